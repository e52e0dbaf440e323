// Package storeutil holds what the Store implementations share: argument
// validation, record copying and the retry policy of optimistic updates.
package storeutil

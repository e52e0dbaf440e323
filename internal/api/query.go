package api

import (
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"

	"github.com/callcore/callcore/internal/e164"
)

type money struct {
	CurrencyID string  `json:"currencyId"`
	Amount     float64 `json:"amount"`
}

type numberInfo struct {
	CountryID        string `json:"countryId"`
	NumberType       string `json:"numberType"`
	NormalizedNumber string `json:"normalizedNumber"`
	Restricted       bool   `json:"restricted"`
	Rate             money  `json:"rate"`
}

type queryNumberResponse struct {
	Number numberInfo `json:"number"`
}

// queryNumber answers GET /v1/calling/query/number/{number} from the bundled
// prefix table: country, number type and the normalized E.164 form. callcore
// does not rate calls, so the rate is zero in the configured currency and no
// number is restricted.
func (s *Server) queryNumber(c echo.Context) error {
	raw, err := url.PathUnescape(c.Param("number"))
	if err != nil {
		return errorf(http.StatusBadRequest, "number: %v", err)
	}
	n, err := e164.Parse(raw)
	if err != nil {
		return errorf(http.StatusBadRequest, "number: %v", err)
	}
	return c.JSON(http.StatusOK, queryNumberResponse{Number: numberInfo{
		CountryID:        n.Country,
		NumberType:       n.Type.String(),
		NormalizedNumber: n.E164,
		Rate:             money{CurrencyID: s.currency, Amount: 0},
	}})
}

package product

// Error codes of the product and inventory aggregates (domain.Error.Code).
const (
	CodeInvalidSKU           = "invalid_sku"
	CodeInvalidName          = "invalid_name"
	CodeInvalidDescription   = "invalid_description"
	CodeInvalidPrice         = "invalid_price"
	CodeProductAlreadyExists = "product_already_exists"
	CodeProductNotFound      = "product_not_found"
	CodeProductDiscontinued  = "product_discontinued"
	CodeCurrencyChange       = "currency_change_not_allowed"

	CodeInvalidQuantity     = "invalid_quantity"
	CodeInvalidDelta        = "invalid_delta"
	CodeInvalidReason       = "invalid_reason"
	CodeInsufficientStock   = "insufficient_stock"
	CodeStockOverflow       = "stock_overflow"
	CodeProductMismatch     = "product_mismatch"
	CodeReservationConflict = "reservation_conflict"
	CodeReservationNotFound = "reservation_not_found"
	CodeReservationSettled  = "reservation_settled"
)

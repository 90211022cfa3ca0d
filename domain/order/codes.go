package order

// Error codes of the order aggregate (domain.Error.Code).
const (
	CodeNoItems               = "no_items"
	CodeTooManyItems          = "too_many_items"
	CodeInvalidQuantity       = "invalid_quantity"
	CodeInvalidPrice          = "invalid_price"
	CodeInvalidSKU            = "invalid_sku"
	CodeInvalidName           = "invalid_name"
	CodeMixedCurrencies       = "mixed_currencies"
	CodeDuplicateProduct      = "duplicate_product"
	CodeInvalidPaymentToken   = "invalid_payment_token"
	CodeInvalidCancelReason   = "invalid_cancel_reason"
	CodeInvalidDetail         = "invalid_detail"
	CodeOrderAlreadyExists    = "order_already_exists"
	CodeOrderNotFound         = "order_not_found"
	CodeOrderAlreadyCancelled = "order_already_cancelled"
	CodeOrderAlreadyConfirmed = "order_already_confirmed"
)

package payment

// Error codes of the payment aggregate (domain.Error.Code).
const (
	CodeInvalidAmount               = "invalid_amount"
	CodeInvalidProvider             = "invalid_provider"
	CodeInvalidProviderReference    = "invalid_provider_reference"
	CodeInvalidProviderCode         = "invalid_provider_code"
	CodeInvalidDeclineReason        = "invalid_decline_reason"
	CodeInvalidFraudReasons         = "invalid_fraud_reasons"
	CodeInvalidFraudScore           = "invalid_fraud_score"
	CodePaymentNotFound             = "payment_not_found"
	CodePaymentAlreadyRecorded      = "payment_already_recorded"
	CodePaymentClosed               = "payment_closed"
	CodeCaptureWithoutAuthorization = "capture_without_authorization"
	CodeCaptureExceedsAuthorization = "capture_exceeds_authorization"
	CodeAlreadyCaptured             = "already_captured"
	CodeVoidAfterCapture            = "void_after_capture"
	CodeVoidWithoutAuthorization    = "void_without_authorization"
	CodeRefundWithoutCapture        = "refund_without_capture"
	CodeRefundExceedsCapture        = "refund_exceeds_capture"
	CodeAlreadyRefunded             = "already_refunded"
)

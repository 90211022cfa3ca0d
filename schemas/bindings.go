package schemas

// bindings is the closed set of event types the codec handles: every event
// of every aggregate, each with its record mapping. A test checks it against
// the aggregates' Events().
func bindings() []binding {
	return []binding{
		bind(userRegisteredRecord, userRegisteredEvent),
		bind(userRoleChangedRecord, userRoleChangedEvent),
		bind(userPasswordChangedRecord, userPasswordChangedEvent),

		bind(productCreatedRecord, productCreatedEvent),
		bind(productRenamedRecord, productRenamedEvent),
		bind(productRepricedRecord, productRepricedEvent),
		bind(productDiscontinuedRecord, productDiscontinuedEvent),

		bind(inventoryStockAdjustedRecord, inventoryStockAdjustedEvent),
		bind(inventoryReservedRecord, inventoryReservedEvent),
		bind(inventoryReleasedRecord, inventoryReleasedEvent),
		bind(inventoryCommittedRecord, inventoryCommittedEvent),

		bind(orderPlacedRecord, orderPlacedEvent),
		bind(orderConfirmedRecord, orderConfirmedEvent),
		bind(orderCancelledRecord, orderCancelledEvent),

		bind(paymentAuthorizedRecord, paymentAuthorizedEvent),
		bind(paymentCapturedRecord, paymentCapturedEvent),
		bind(paymentDeclinedRecord, paymentDeclinedEvent),
		bind(paymentVoidedRecord, paymentVoidedEvent),
		bind(paymentRefundedRecord, paymentRefundedEvent),
		bind(paymentFraudSuspectedRecord, paymentFraudSuspectedEvent),
	}
}

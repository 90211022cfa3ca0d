package schemas_test

import (
	"time"

	"github.com/ordo-platform/ordo/domain"
	"github.com/ordo-platform/ordo/domain/order"
	"github.com/ordo-platform/ordo/domain/payment"
	"github.com/ordo-platform/ordo/domain/product"
	"github.com/ordo-platform/ordo/domain/user"
)

var (
	userID     = domain.MustParseID("0193a1c2-7d4e-7f00-8a2b-000000000001")
	adminID    = domain.MustParseID("0193a1c2-7d4e-7f00-8a2b-0000000000ad")
	productID  = domain.MustParseID("0193a1c2-7d4e-7f00-8a2b-0000000000f1")
	product2ID = domain.MustParseID("0193a1c2-7d4e-7f00-8a2b-0000000000f2")
	orderID    = domain.MustParseID("0193a1c2-7d4e-7f00-8a2b-0000000000c1")
	t0         = time.Date(2025, 3, 4, 12, 0, 0, 123456000, time.UTC)
)

func eur(c int64) domain.Money { return domain.Money{Cents: c, Currency: "EUR"} }

func orderPlaced() order.Placed {
	return order.Placed{
		OrderID:    orderID,
		CustomerID: userID,
		Items: []order.Item{
			{ProductID: productID, SKU: "MUG-BLUE-01", Name: "Blue mug", UnitPriceCents: 1299, Quantity: 2, LineTotalCents: 2598},
			{ProductID: product2ID, SKU: "TEA-EARL-GREY", Name: "Earl Grey – 100 g", UnitPriceCents: 450, Quantity: 3, LineTotalCents: 1350},
		},
		TotalCents:   3948,
		Currency:     "EUR",
		PaymentToken: "tok_visa",
		PlacedAt:     t0,
	}
}

// samples returns one realistic value of every event type, in a stable order.
func samples() []domain.Event {
	return []domain.Event{
		user.Registered{UserID: userID, Email: "ann@example.com", Name: "Ann Lee", Role: user.RoleCustomer,
			PasswordHash: "$argon2id$v=19$m=65536,t=3,p=2$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo", RegisteredAt: t0},
		user.RoleChanged{UserID: userID, Role: user.RoleAdmin, ChangedBy: adminID},
		user.PasswordChanged{UserID: userID, PasswordHash: "$argon2id$v=19$m=65536,t=3,p=2$bmV3$bmV3aGFzaA"},

		product.Created{ProductID: productID, SKU: "MUG-BLUE-01", Name: "Blue mug", Description: "Stoneware.\n350 ml.", Price: eur(1299)},
		product.Renamed{ProductID: productID, Name: "Big blue mug"},
		product.Repriced{ProductID: productID, Price: eur(1499)},
		product.Discontinued{ProductID: productID},

		product.StockAdjusted{ProductID: productID, Delta: -3, Reason: "broken in transit", OnHand: 97},
		product.Reserved{ProductID: productID, OrderID: orderID, Quantity: 2, ExpiresAt: t0.Add(15 * time.Minute)},
		product.Released{ProductID: productID, OrderID: orderID, Quantity: 2, Reason: product.ReleaseReasonExpired},
		product.Committed{ProductID: productID, OrderID: orderID, Quantity: 2},

		orderPlaced(),
		order.Confirmed{OrderID: orderID},
		order.Cancelled{OrderID: orderID, Reason: order.ReasonPaymentDeclined, Detail: "card declined"},

		payment.Authorized{OrderID: orderID, Amount: eur(3948), Provider: "simulator", ProviderReference: "auth_7Hq2", AuthorizedAt: t0.Add(time.Second)},
		payment.Captured{OrderID: orderID, Amount: eur(3948), ProviderReference: "cap_9Zk1"},
		payment.Declined{OrderID: orderID, Reason: "card_declined", ProviderCode: "do_not_honor"},
		payment.Voided{OrderID: orderID},
		payment.Refunded{OrderID: orderID, Amount: eur(3948)},
		payment.FraudSuspected{OrderID: orderID, Reasons: []string{"velocity", "ip_country_mismatch"}, Score: 97},
	}
}

// domainEvents is the closed set as the aggregates declare it.
func domainEvents() []domain.Event {
	var all []domain.Event
	all = append(all, user.Events()...)
	all = append(all, product.Events()...)
	all = append(all, order.Events()...)
	all = append(all, payment.Events()...)
	return all
}

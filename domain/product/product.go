package product

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/ordo-platform/ordo/domain"
)

// Product is the catalogue aggregate. The zero value is a product that does
// not exist yet.
type Product struct {
	id           domain.ID
	sku          string
	name         string
	description  string
	price        domain.Money
	discontinued bool
}

// Fold rebuilds a product from its stream's events, oldest first. It fails
// only on an event of another aggregate.
func Fold(events []domain.Event) (*Product, error) {
	p := &Product{}
	for _, e := range events {
		if err := p.Evolve(e); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Evolve applies one event without checking invariants.
func (p *Product) Evolve(e domain.Event) error {
	switch e := e.(type) {
	case Created:
		p.id = e.ProductID
		p.sku = e.SKU
		p.name = e.Name
		p.description = e.Description
		p.price = e.Price
	case Renamed:
		p.name = e.Name
	case Repriced:
		p.price = e.Price
	case Discontinued:
		p.discontinued = true
	default:
		return fmt.Errorf("product: apply %T: %w", e, domain.ErrUnknownEvent)
	}
	return nil
}

// Exists reports whether the product was created.
func (p *Product) Exists() bool { return !p.id.IsZero() }

// ID returns the product id (also its inventory's id).
func (p *Product) ID() domain.ID { return p.id }

// SKU returns the normalised stock-keeping unit.
func (p *Product) SKU() string { return p.sku }

// Name returns the product's name.
func (p *Product) Name() string { return p.name }

// Description returns the product's description.
func (p *Product) Description() string { return p.description }

// Price returns the current price.
func (p *Product) Price() domain.Money { return p.price }

// Discontinued reports whether the product is no longer sold.
func (p *Product) Discontinued() bool { return p.discontinued }

// Create adds a product to the catalogue. SKU uniqueness across products is
// the catalogue read model's unique index, checked by the handler.
type Create struct {
	ProductID   domain.ID
	SKU         string
	Name        string
	Description string
	Price       domain.Money
}

// DecideCreate validates a new product.
func (p *Product) DecideCreate(cmd Create) ([]domain.Event, error) {
	if p.Exists() {
		return nil, domain.Conflict(CodeProductAlreadyExists, fmt.Sprintf("product %s already exists", p.id))
	}
	sku, errSKU := NormalizeSKU(cmd.SKU)
	name, errName := ValidateName(cmd.Name)
	desc, errDesc := ValidateDescription(cmd.Description)
	price, errPrice := validatePrice(cmd.Price)
	if err := domain.JoinValidation(domain.RequireID("product_id", cmd.ProductID), errSKU, errName, errDesc, errPrice); err != nil {
		return nil, err
	}
	return []domain.Event{Created{ProductID: cmd.ProductID, SKU: sku, Name: name, Description: desc, Price: price}}, nil
}

// Rename changes the product's name.
type Rename struct {
	Name string
}

// DecideRename returns Renamed, or nothing when the name is unchanged.
// A discontinued product cannot be changed.
func (p *Product) DecideRename(cmd Rename) ([]domain.Event, error) {
	if err := p.requireActive(); err != nil {
		return nil, err
	}
	name, err := ValidateName(cmd.Name)
	if err != nil {
		return nil, err
	}
	if name == p.name {
		return nil, nil
	}
	return []domain.Event{Renamed{ProductID: p.id, Name: name}}, nil
}

// Reprice changes the product's price. The currency cannot change: orders
// are single-currency and a catalogue entry keeps its currency for life.
type Reprice struct {
	Price domain.Money
}

// DecideReprice returns Repriced, or nothing when the price is unchanged.
func (p *Product) DecideReprice(cmd Reprice) ([]domain.Event, error) {
	if err := p.requireActive(); err != nil {
		return nil, err
	}
	price, err := validatePrice(cmd.Price)
	if err != nil {
		return nil, err
	}
	if price.Currency != p.price.Currency {
		return nil, domain.Conflict(CodeCurrencyChange,
			fmt.Sprintf("product is priced in %s; its currency cannot change to %s", p.price.Currency, price.Currency))
	}
	if price == p.price {
		return nil, nil
	}
	return []domain.Event{Repriced{ProductID: p.id, Price: price}}, nil
}

// DecideDiscontinue returns Discontinued, or nothing when the product is
// already discontinued (idempotent).
func (p *Product) DecideDiscontinue() ([]domain.Event, error) {
	if !p.Exists() {
		return nil, domain.NotFound(CodeProductNotFound, "product not found")
	}
	if p.discontinued {
		return nil, nil
	}
	return []domain.Event{Discontinued{ProductID: p.id}}, nil
}

func (p *Product) requireActive() error {
	if !p.Exists() {
		return domain.NotFound(CodeProductNotFound, "product not found")
	}
	if p.discontinued {
		return domain.Conflict(CodeProductDiscontinued, fmt.Sprintf("product %s is discontinued", p.sku))
	}
	return nil
}

var skuPattern = regexp.MustCompile(`^[A-Z0-9][A-Z0-9-]{1,63}$`)

// NormalizeSKU trims and upper-cases a stock-keeping unit and checks it: 2 to
// 64 characters from A-Z, 0-9 and '-', not starting with '-'.
func NormalizeSKU(s string) (string, error) {
	sku := strings.ToUpper(strings.TrimSpace(s))
	if !skuPattern.MatchString(sku) {
		return "", domain.Invalid(CodeInvalidSKU, "sku",
			"sku must have 2 to 64 characters from A-Z, 0-9 and '-', and not start with '-'")
	}
	return sku, nil
}

// ValidateName trims a product name and checks it: 1 to 200 characters.
func ValidateName(name string) (string, error) {
	return domain.Text(CodeInvalidName, "name", name, 1, 200, false)
}

// ValidateDescription trims a description and checks it: at most 5000
// characters, new lines allowed, may be empty.
func ValidateDescription(d string) (string, error) {
	return domain.Text(CodeInvalidDescription, "description", d, 0, 5000, true)
}

func validatePrice(m domain.Money) (domain.Money, error) {
	price, err := domain.NewMoney(m.Cents, m.Currency)
	if err != nil {
		return domain.Money{}, err
	}
	if !price.IsPositive() {
		return domain.Money{}, domain.Invalid(CodeInvalidPrice, "price_cents", "price must be greater than zero")
	}
	return price, nil
}

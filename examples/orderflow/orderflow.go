// Package orderflow is Tasker's example workflow: an e-commerce order.
//
//	validate_cart ─┬─ charge_payment ───┬─ create_order ── send_confirmation
//	               └─ reserve_inventory ┘
//
// The workflow is ecommerce/process_order@1.0.0. Its input must carry an
// integer order_id and an items array (see Input). The payment step is flaky
// on purpose: for some orders (order_id % 3 == 0 by default) its first
// attempt fails with an engine.RetryableError, and the retry succeeds, so the
// demo shows retries without ever failing an order.
//
// Every handler that causes a side effect (charging, reserving, creating
// the order, sending the confirmation) passes the step's idempotency key
// on, and, when Options.Ledger is set, appends that key as one line to the
// ledger once the side effect is done. A crash test can then check that no
// side effect happened twice for one key.
package orderflow

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/tasker-go/tasker/engine"
	"github.com/tasker-go/tasker/retry"
)

// Names of the workflow.
const (
	Namespace = "ecommerce"
	Name      = "process_order"
	Version   = "1.0.0"
	// Workflow is what Engine.Start takes.
	Workflow = Namespace + "/" + Name
)

// Handler names, as templates refer to them.
const (
	HandlerValidateCart     = "ecommerce.validate_cart"
	HandlerChargePayment    = "ecommerce.charge_payment"
	HandlerReserveInventory = "ecommerce.reserve_inventory"
	HandlerCreateOrder      = "ecommerce.create_order"
	HandlerSendConfirmation = "ecommerce.send_confirmation"
)

// DemoBackoff is the payment step's backoff in the template: small, so the
// demo's retries take milliseconds.
var DemoBackoff = retry.Policy{Base: 10 * time.Millisecond, Max: 100 * time.Millisecond}

// InputSchema is the JSON Schema every order must satisfy.
const InputSchema = `{
  "type": "object",
  "required": ["order_id", "items"],
  "properties": {
    "order_id": {"type": "integer"},
    "customer": {"type": "string"},
    "items": {
      "type": "array",
      "items": {
        "type": "object",
        "required": ["sku", "quantity", "price_cents"],
        "properties": {
          "sku": {"type": "string"},
          "quantity": {"type": "integer"},
          "price_cents": {"type": "integer"}
        }
      }
    }
  }
}`

// Options configure the handlers.
type Options struct {
	// FlakyEvery makes the first payment attempt fail (retryably) for
	// orders whose order_id is a multiple of it. 0 means 3; a negative
	// value turns the flakiness off.
	FlakyEvery int
	// PaymentBackoff, when not zero, replaces DemoBackoff on the payment
	// step of the template Register registers (RegisterHandlers, which
	// registers no template, refuses it).
	PaymentBackoff retry.Policy
	// Ledger, when set, receives one line per completed side effect: the
	// step's idempotency key. Writes are serialised (across every engine
	// of the process that shares the writer), one Write per line.
	Ledger io.Writer
}

func (o Options) flaky(orderID int) bool {
	every := o.FlakyEvery
	if every == 0 {
		every = 3
	}
	return every > 0 && orderID%every == 0
}

// Template returns the workflow (a fresh value on each call).
func Template() *engine.Template {
	return &engine.Template{
		Namespace:   Namespace,
		Name:        Name,
		Version:     Version,
		Description: "validate a cart, charge and reserve in parallel, create the order, confirm it",
		InputSchema: []byte(InputSchema),
		Steps: []engine.StepTemplate{
			{Name: "validate_cart", Handler: HandlerValidateCart},
			{
				Name: "charge_payment", Handler: HandlerChargePayment, DependsOn: []string{"validate_cart"},
				RetryLimit: 3, Backoff: DemoBackoff, Timeout: 30 * time.Second,
				Config:          PaymentConfig{Gateway: "https://pay.example/charge", Currency: "USD"},
				DependentSystem: "payments",
			},
			{Name: "reserve_inventory", Handler: HandlerReserveInventory, DependsOn: []string{"validate_cart"}},
			{Name: "create_order", Handler: HandlerCreateOrder, DependsOn: []string{"charge_payment", "reserve_inventory"}},
			{Name: "send_confirmation", Handler: HandlerSendConfirmation, DependsOn: []string{"create_order"}},
		},
	}
}

// Register registers the handlers and the template on e. A PaymentBackoff
// the engine would refuse is refused before anything is registered.
func Register(e *engine.Engine, opts Options) error {
	if err := opts.PaymentBackoff.Validate(); err != nil {
		return fmt.Errorf("orderflow.Register: Options.PaymentBackoff: %w", err)
	}
	if err := registerHandlers(e, opts); err != nil {
		return err
	}
	t := Template()
	if opts.PaymentBackoff != (retry.Policy{}) {
		for i := range t.Steps {
			if t.Steps[i].Name == "charge_payment" {
				t.Steps[i].Backoff = opts.PaymentBackoff
			}
		}
	}
	return e.Register(t)
}

// RegisterHandlers registers only the handlers (for templates loaded from
// elsewhere, such as the YAML example). Options.PaymentBackoff is refused:
// the template it would set is not this function's.
func RegisterHandlers(e *engine.Engine, opts Options) error {
	if opts.PaymentBackoff != (retry.Policy{}) {
		return errors.New("orderflow.RegisterHandlers: Options.PaymentBackoff applies to the template Register registers, and RegisterHandlers registers none (set the backoff in your template)")
	}
	return registerHandlers(e, opts)
}

func registerHandlers(e *engine.Engine, opts Options) error {
	h := &handlers{opts: opts}
	return errors.Join(
		e.HandleFunc(HandlerValidateCart, h.validateCart),
		e.HandleFunc(HandlerChargePayment, h.chargePayment),
		e.HandleFunc(HandlerReserveInventory, h.reserveInventory),
		e.HandleFunc(HandlerCreateOrder, h.createOrder),
		e.HandleFunc(HandlerSendConfirmation, h.sendConfirmation),
	)
}

// Input is an order.
type Input struct {
	OrderID  int    `json:"order_id"`
	Customer string `json:"customer,omitempty"`
	Items    []Item `json:"items"`
}

// Item is one line of an order.
type Item struct {
	SKU        string `json:"sku"`
	Quantity   int    `json:"quantity"`
	PriceCents int    `json:"price_cents"`
}

// SampleOrder returns a deterministic order for id (1 to 3 items).
func SampleOrder(id int) Input {
	in := Input{OrderID: id, Customer: fmt.Sprintf("customer-%d@example.com", id)}
	for i := range 1 + id%3 {
		in.Items = append(in.Items, Item{
			SKU:        fmt.Sprintf("SKU-%03d", (id*7+i*13)%100),
			Quantity:   1 + (id+i)%4,
			PriceCents: 250 + ((id*31+i*17)%40)*125,
		})
	}
	return in
}

// PaymentConfig is the payment step's configuration.
type PaymentConfig struct {
	Gateway  string `json:"gateway"`
	Currency string `json:"currency,omitempty"`
}

// Cart is validate_cart's result.
type Cart struct {
	OrderID    int    `json:"order_id"`
	Items      int    `json:"items"`
	Units      int    `json:"units"`
	TotalCents int    `json:"total_cents"`
	Customer   string `json:"customer,omitempty"`
}

// Payment is charge_payment's result.
type Payment struct {
	PaymentID      string `json:"payment_id"`
	AmountCents    int    `json:"amount_cents"`
	Currency       string `json:"currency"`
	Gateway        string `json:"gateway"`
	IdempotencyKey string `json:"idempotency_key"`
	Attempt        int    `json:"attempt"`
}

// Reservation is reserve_inventory's result.
type Reservation struct {
	ReservationID string `json:"reservation_id"`
	Units         int    `json:"units"`
}

// Order is create_order's result.
type Order struct {
	OrderNumber   string `json:"order_number"`
	PaymentID     string `json:"payment_id"`
	ReservationID string `json:"reservation_id"`
	TotalCents    int    `json:"total_cents"`
}

// Confirmation is send_confirmation's result.
type Confirmation struct {
	MessageID   string `json:"message_id"`
	OrderNumber string `json:"order_number"`
	To          string `json:"to,omitempty"`
}

// ErrPaymentDeclined is what the flaky payment gateway returns on a first
// attempt; the step retries it.
var ErrPaymentDeclined = errors.New("payment gateway timed out (simulated)")

type handlers struct{ opts Options }

// ledgerMu serialises ledger lines of every registration in the process:
// two engines (a crashed one and its replacement) may share one writer.
var ledgerMu sync.Mutex

// record appends the side effect's idempotency key to the ledger.
func (h *handlers) record(sc *engine.StepContext) error {
	if h.opts.Ledger == nil {
		return nil
	}
	ledgerMu.Lock()
	defer ledgerMu.Unlock()
	if _, err := io.WriteString(h.opts.Ledger, sc.IdempotencyKey+"\n"); err != nil {
		return fmt.Errorf("writing the ledger: %w", err)
	}
	return nil
}

func (h *handlers) validateCart(sc *engine.StepContext) (any, error) {
	var in Input
	if err := sc.Input(&in); err != nil {
		return nil, err
	}
	if len(in.Items) == 0 {
		return nil, engine.Permanent(fmt.Errorf("order %d has no items", in.OrderID))
	}
	c := Cart{OrderID: in.OrderID, Items: len(in.Items), Customer: in.Customer}
	for _, it := range in.Items {
		if it.Quantity <= 0 || it.PriceCents < 0 {
			return nil, engine.Permanent(fmt.Errorf("order %d: item %s has quantity %d and price %d", in.OrderID, it.SKU, it.Quantity, it.PriceCents))
		}
		c.Units += it.Quantity
		c.TotalCents += it.Quantity * it.PriceCents
	}
	return c, nil
}

func (h *handlers) chargePayment(sc *engine.StepContext) (any, error) {
	cart, err := engine.Result[Cart](sc, "validate_cart")
	if err != nil {
		return nil, err
	}
	var cfg PaymentConfig
	if err := sc.Config(&cfg); err != nil {
		return nil, err
	}
	if cfg.Currency == "" {
		cfg.Currency = "USD"
	}
	if sc.Attempt == 1 && h.opts.flaky(cart.OrderID) {
		return nil, &engine.RetryableError{Err: fmt.Errorf("charging order %d at %s: %w", cart.OrderID, cfg.Gateway, ErrPaymentDeclined)}
	}
	// A real gateway gets sc.IdempotencyKey so a retried charge is charged once.
	if err := h.record(sc); err != nil {
		return nil, err
	}
	return Payment{
		PaymentID: "pay_" + sc.IdempotencyKey, AmountCents: cart.TotalCents, Currency: cfg.Currency,
		Gateway: cfg.Gateway, IdempotencyKey: sc.IdempotencyKey, Attempt: sc.Attempt,
	}, nil
}

func (h *handlers) reserveInventory(sc *engine.StepContext) (any, error) {
	cart, err := engine.Result[Cart](sc, "validate_cart")
	if err != nil {
		return nil, err
	}
	if err := h.record(sc); err != nil {
		return nil, err
	}
	return Reservation{ReservationID: "res_" + sc.IdempotencyKey, Units: cart.Units}, nil
}

func (h *handlers) createOrder(sc *engine.StepContext) (any, error) {
	pay, err := engine.Result[Payment](sc, "charge_payment")
	if err != nil {
		return nil, err
	}
	res, err := engine.Result[Reservation](sc, "reserve_inventory")
	if err != nil {
		return nil, err
	}
	var in Input
	if err := sc.Input(&in); err != nil {
		return nil, err
	}
	if err := h.record(sc); err != nil {
		return nil, err
	}
	return Order{
		OrderNumber: fmt.Sprintf("ORD-%06d", in.OrderID), PaymentID: pay.PaymentID,
		ReservationID: res.ReservationID, TotalCents: pay.AmountCents,
	}, nil
}

func (h *handlers) sendConfirmation(sc *engine.StepContext) (any, error) {
	order, err := engine.Result[Order](sc, "create_order")
	if err != nil {
		return nil, err
	}
	var in Input
	if err := sc.Input(&in); err != nil {
		return nil, err
	}
	if err := h.record(sc); err != nil {
		return nil, err
	}
	return Confirmation{MessageID: "msg_" + sc.IdempotencyKey, OrderNumber: order.OrderNumber, To: in.Customer}, nil
}

package main

import (
	"os"

	"github.com/ordo-platform/ordo/internal/consumer"
	"github.com/ordo-platform/ordo/internal/lifecycle"
	"github.com/ordo-platform/ordo/notify"
	"github.com/ordo-platform/ordo/projections"
)

func init() {
	registerMigrations(notify.Migrations())
	registerCollectors(notify.Collectors()...)
	registerRole(roleSpec{
		Name: "notify", Short: "Record order status notifications (for WebSocket clients) and send order emails through SMTP", InAll: true, Order: 50,
		Build: func(d *deps) ([]lifecycle.Role, error) {
			mail := mailConfig()
			if err := mail.Validate(); err != nil {
				return nil, err
			}
			users, err := d.env.TopicNames.ForStreamType("user")
			if err != nil {
				return nil, err
			}
			orders, err := d.env.TopicNames.ForStreamType("order")
			if err != nil {
				return nil, err
			}
			history := consumer.New(consumer.Config{
				Group: d.env.TopicNames.Group(notify.Group), Topics: []string{users, orders}, DeadLetterTopic: d.env.TopicNames.DeadLetter(),
				Linger: projections.DefaultLinger,
			}, notify.NewHistory(d.pool, mail.Enabled(), d.log), d.kafkaClients("notify"), d.log)
			roles := []lifecycle.Role{history}
			if mail.Enabled() {
				roles = append(roles, notify.NewMailer(mail, d.pool, d.log))
			} else {
				d.log.Info("email disabled: ORDO_SMTP_ADDR is not set")
			}
			return roles, nil
		},
	})
}

// mailConfig reads the SMTP settings; email is off unless ORDO_SMTP_ADDR is set.
func mailConfig() notify.MailConfig {
	return notify.MailConfig{
		Addr:       os.Getenv("ORDO_SMTP_ADDR"),
		From:       getenv("ORDO_SMTP_FROM", "Ordo <orders@ordo.local>"),
		Username:   os.Getenv("ORDO_SMTP_USERNAME"),
		Password:   os.Getenv("ORDO_SMTP_PASSWORD"),
		RequireTLS: os.Getenv("ORDO_SMTP_REQUIRE_TLS") == "true",
	}
}

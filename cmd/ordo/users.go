package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ordo-platform/ordo/app"
	"github.com/ordo-platform/ordo/domain/user"
)

func init() { registerCommand(usersCmd) }

func usersCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "users", Short: "Manage users"}
	cmd.AddCommand(usersAddCmd())
	return cmd
}

func usersAddCmd() *cobra.Command {
	var email, name, role string
	var passwordStdin bool
	cmd := &cobra.Command{
		Use:   "add --email E [--role admin] [--name N] --password-stdin",
		Short: "Create a user (for example the first admin), reading the password from stdin",
		Long: `Registers a user with the given role, exactly as POST /v1/users does for customers:
same password policy, same unique e-mail address. The password is read from the first line of
standard input, so that it never appears in the process list or the shell history:

  printf '%s\n' "$ADMIN_PASSWORD" | ordo users add --email admin@example.com --role admin --password-stdin`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !passwordStdin {
				return errors.New("--password-stdin is required: pass the password on standard input")
			}
			password, err := readPassword(cmd.InOrStdin())
			if err != nil {
				return err
			}
			if name == "" {
				name, _, _ = strings.Cut(strings.TrimSpace(email), "@")
			}
			e, err := loadEnv()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			d, err := openDeps(ctx, e, "users")
			if err != nil {
				return err
			}
			defer d.close()
			hasher, err := d.passwords()
			if err != nil {
				return err
			}
			v, _, err := app.NewRegisterUser(d.app, hasher).Handle(ctx, app.RegisterUserCommand{
				Email: email, Name: name, Password: password, Role: user.Role(role),
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created user %s %s (%s)\n", v.ID, v.Email, v.Role)
			return nil
		},
	}
	cmd.Flags().StringVar(&email, "email", "", "e-mail address (required)")
	cmd.Flags().StringVar(&name, "name", "", "display name (default: the part of the e-mail before the @)")
	cmd.Flags().StringVar(&role, "role", string(user.RoleCustomer), "role: customer or admin")
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of standard input")
	_ = cmd.MarkFlagRequired("email")
	return cmd
}

// readPassword reads the first line of r, without its line ending. The password is
// taken as typed otherwise (no trimming of spaces), as the API does.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from stdin: %w", err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", errors.New("no password on standard input")
	}
	return line, nil
}

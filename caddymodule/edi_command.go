package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/tokengate/tokengate/tokencore"
	"github.com/tokengate/tokengate/tokencore/edi"
	"github.com/tokengate/tokengate/tokencore/store/bolt"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "tokengate",
		Usage: "edi <subject|key> ...",
		Short: "Manages tokengate's stored records",
		Long: `
Works on the records of a tokengate store (bbolt file) directly, for
operators without the HTTP operator API and for scripts.

bbolt allows one process per file: while a gateway runs on the store, these
commands wait --timeout and then fail with a message saying so. Stop the
gateway, or use the operator API (tokengate_edi_admin) of the running one.

  caddy tokengate edi subject put <EDI-ID> [--file subject.json]   (JSON on stdin without --file)
  caddy tokengate edi subject get <EDI-ID>
  caddy tokengate edi subject list
  caddy tokengate edi subject revoke <EDI-ID> [--edi-ttl 8h]
  caddy tokengate edi key create --owner <EDI-ID> --name <name> [--group <EDI-ID>] [--valid-from <date>] [--valid-to <date>]
  caddy tokengate edi key list [--owner <EDI-ID>] [--revoked]
  caddy tokengate edi key get <id>
  caddy tokengate edi key update <id> [--name <name>] [--group <EDI-ID>] [--valid-from <date>] [--valid-to <date>]
  caddy tokengate edi key revoke <id>

Records are written and printed as the operator API writes them (JSON).
A key's secret is printed once, by "key create".
`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.AddCommand(ediCommand())
		},
	})
}

// ediCLI holds the flags every edi subcommand shares.
type ediCLI struct {
	store    string
	timeout  time.Duration
	timeZone string
	ediTTL   time.Duration
}

func ediCommand() *cobra.Command {
	c := &ediCLI{}
	root := &cobra.Command{
		Use:   "edi",
		Short: "EDI subject and API-key records",
	}
	pf := root.PersistentFlags()
	// pflag prints a back-quoted word of the usage as the flag's value name
	// ("--store path"), so the usage quotes only that word.
	pf.StringVar(&c.store, "store", defaultStorePath(), "`path` of the gateway's bbolt store file (its store bolt <path> option)")
	pf.DurationVar(&c.timeout, "timeout", 2*time.Second, "how long to wait for the store's file lock")
	pf.StringVar(&c.timeZone, "time-zone", "UTC", "time zone of date-only key validity")
	pf.DurationVar(&c.ediTTL, "edi-ttl", edi.DefaultEDITTL, "the gateway's edi_ttl (how long a subject revocation must last)")

	subject := &cobra.Command{Use: "subject", Short: "Profile and group records"}
	var file string
	put := &cobra.Command{
		Use: "put <EDI-ID>", Short: "Create or replace a subject record", Args: cobra.ExactArgs(1),
		RunE: c.run(func(ctx context.Context, m *edi.Manager, cmd *cobra.Command, args []string) (any, error) {
			var in io.Reader = cmd.InOrStdin()
			if file != "" {
				f, err := os.Open(file)
				if err != nil {
					return nil, err
				}
				defer f.Close()
				in = f
			}
			var doc edi.SubjectDoc
			dec := json.NewDecoder(io.LimitReader(in, 1<<20))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&doc); err != nil {
				return nil, fmt.Errorf("reading the subject JSON: %w", err)
			}
			s, _, err := m.PutSubject(ctx, args[0], doc)
			if err != nil {
				return nil, err
			}
			return edi.DocFromSubject(s), nil
		}),
	}
	put.Flags().StringVar(&file, "file", "", "JSON file of the record (default: stdin)")
	subject.AddCommand(put,
		&cobra.Command{
			Use: "get <EDI-ID>", Short: "Print a subject record", Args: cobra.ExactArgs(1),
			RunE: c.run(func(ctx context.Context, m *edi.Manager, _ *cobra.Command, args []string) (any, error) {
				s, err := m.GetSubject(ctx, args[0])
				if err != nil {
					return nil, err
				}
				return edi.DocFromSubject(s), nil
			}),
		},
		&cobra.Command{
			Use: "list", Short: "Print every subject record", Args: cobra.NoArgs,
			RunE: c.run(func(ctx context.Context, m *edi.Manager, _ *cobra.Command, _ []string) (any, error) {
				subs, err := m.ListSubjects(ctx)
				if err != nil {
					return nil, err
				}
				docs := make([]edi.SubjectDoc, 0, len(subs))
				for _, s := range subs {
					docs = append(docs, edi.DocFromSubject(s))
				}
				return map[string]any{"subjects": docs}, nil
			}),
		},
		&cobra.Command{
			Use: "revoke <EDI-ID>", Short: "Refuse every EDI token of the subject issued until now", Args: cobra.ExactArgs(1),
			RunE: c.run(func(ctx context.Context, m *edi.Manager, _ *cobra.Command, args []string) (any, error) {
				r, err := m.RevokeSubject(ctx, args[0])
				if err != nil {
					return nil, err
				}
				return map[string]any{"ediId": r.Key, "revokedBefore": r.NotBefore.UTC().Format(time.RFC3339Nano), "until": r.ExpiresAt.UTC().Format(time.RFC3339)}, nil
			}),
		},
	)

	key := &cobra.Command{Use: "key", Short: "API-key records"}
	var req edi.KeyRequest
	create := &cobra.Command{
		Use: "create", Short: "Create an API key and print its secret (shown this once)", Args: cobra.NoArgs,
		RunE: c.run(func(ctx context.Context, m *edi.Manager, _ *cobra.Command, _ []string) (any, error) {
			k, secret, err := m.CreateKey(ctx, req)
			if err != nil {
				return nil, err
			}
			doc := edi.DocFromKey(k)
			doc.Secret = secret
			return doc, nil
		}),
	}
	create.Flags().StringVar(&req.Owner, "owner", "", "EDI-ID of the owning profile")
	create.Flags().StringVar(&req.Group, "group", "", "EDI-ID of a group the owner owns (a group key)")
	create.Flags().StringVar(&req.Name, "name", "", "name of the key (up to 64 characters)")
	create.Flags().StringVar(&req.ValidFrom, "valid-from", "", "start of validity (YYYY-MM-DD or RFC 3339; default now)")
	create.Flags().StringVar(&req.ValidTo, "valid-to", "", "end of validity (a date is inclusive; default one year less one day)")

	var (
		owner       string
		withRevoked bool
	)
	list := &cobra.Command{
		Use: "list", Short: "Print API-key records (never their secrets)", Args: cobra.NoArgs,
		RunE: c.run(func(ctx context.Context, m *edi.Manager, _ *cobra.Command, _ []string) (any, error) {
			ks, err := m.ListKeys(ctx, owner, withRevoked)
			if err != nil {
				return nil, err
			}
			docs := make([]edi.KeyDoc, 0, len(ks))
			for _, k := range ks {
				docs = append(docs, edi.DocFromKey(k))
			}
			return map[string]any{"keys": docs}, nil
		}),
	}
	list.Flags().StringVar(&owner, "owner", "", "only the keys of this profile")
	list.Flags().BoolVar(&withRevoked, "revoked", false, "include revoked keys")

	update := &cobra.Command{
		Use: "update <id>", Short: "Change a key's name, group or validity", Args: cobra.ExactArgs(1),
		RunE: c.run(func(ctx context.Context, m *edi.Manager, cmd *cobra.Command, args []string) (any, error) {
			var p edi.KeyPatch
			for flag, dst := range map[string]**string{"name": &p.Name, "group": &p.Group, "valid-from": &p.ValidFrom, "valid-to": &p.ValidTo} {
				if cmd.Flags().Changed(flag) {
					v, _ := cmd.Flags().GetString(flag)
					*dst = &v
				}
			}
			k, err := m.UpdateKey(ctx, args[0], p)
			if err != nil {
				return nil, err
			}
			return edi.DocFromKey(k), nil
		}),
	}
	update.Flags().String("name", "", "new name")
	update.Flags().String("group", "", "new group (empty: a profile key)")
	update.Flags().String("valid-from", "", "new start of validity")
	update.Flags().String("valid-to", "", "new end of validity (a date is inclusive)")

	key.AddCommand(create, list, update,
		&cobra.Command{
			Use: "get <id>", Short: "Print an API-key record", Args: cobra.ExactArgs(1),
			RunE: c.run(func(ctx context.Context, m *edi.Manager, _ *cobra.Command, args []string) (any, error) {
				k, err := m.GetKey(ctx, args[0])
				if err != nil {
					return nil, err
				}
				return edi.DocFromKey(k), nil
			}),
		},
		&cobra.Command{
			Use: "revoke <id>", Short: "Revoke an API key", Args: cobra.ExactArgs(1),
			RunE: c.run(func(ctx context.Context, m *edi.Manager, _ *cobra.Command, args []string) (any, error) {
				k, err := m.RevokeKey(ctx, args[0])
				if err != nil {
					return nil, err
				}
				return edi.DocFromKey(k), nil
			}),
		},
	)
	root.AddCommand(subject, key)
	return root
}

// run opens the store, runs op with a manager on it, prints the result as
// JSON and closes the store.
func (c *ediCLI) run(op func(ctx context.Context, m *edi.Manager, cmd *cobra.Command, args []string) (any, error)) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		cmd.SilenceUsage = true
		loc, err := time.LoadLocation(c.timeZone)
		if err != nil {
			return fmt.Errorf("--time-zone: %w", err)
		}
		if _, err := os.Stat(c.store); err != nil {
			return fmt.Errorf("store %s: %w (give the gateway's store path with --store)", c.store, err)
		}
		st, err := bolt.Open(c.store, bolt.Options{Timeout: c.timeout})
		if errors.Is(err, tokencore.ErrStoreLocked) {
			return fmt.Errorf("the store %s is locked by another process (a running gateway?): stop it, or use the operator API of the running gateway (tokengate_edi_admin)", c.store)
		} else if err != nil {
			return err
		}
		defer st.Close()
		m, err := edi.NewManager(&tokencore.Engine{Store: st, View: tokencore.NewRevocationView()}, edi.Config{Location: loc, EDITTL: c.ediTTL})
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
		defer cancel()
		out, err := op(ctx, m, cmd, args)
		if err != nil {
			if errors.Is(err, tokencore.ErrNotFound) {
				return errors.New("no such record")
			}
			return err
		}
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
}

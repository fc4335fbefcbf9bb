package pebble

import "fmt"

// logger is Pebble's logger for a Store: informational messages (flushes,
// compactions, WAL recycling) are dropped, errors go to Options.ErrorLog.
// Pebble's default logger writes to the standard library's log, which in
// Caddy is neither structured nor filtered.
type logger struct {
	errorf func(msg string)
}

func (logger) Infof(string, ...any) {}

func (l logger) Errorf(format string, args ...any) {
	if l.errorf != nil {
		l.errorf(fmt.Sprintf(format, args...))
	}
}

// Fatalf is called by Pebble on a failure it cannot continue from (a
// failed WAL write it cannot retry, an inconsistent manifest). Pebble's
// default exits the process; this one reports the message and panics,
// which also ends it unless the caller recovers (Open does, and refuses
// the store).
func (l logger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if l.errorf != nil {
		l.errorf("fatal: " + msg)
	}
	panic("pebble: " + msg)
}

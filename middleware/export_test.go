package middleware

import "time"

// SetNow makes a read the time from now, for the windows of its log
// lines. Call it before a refuses its first request.
func SetNow(a *Authenticator, now func() time.Time) {
	a.now, a.epoch = now, now()
}

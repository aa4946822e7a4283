package sharing

import "time"

// Defaults of the contract's share settings.
const (
	ShareAfterDefault   = 5 * time.Minute
	ReshareAfterDefault = 24 * time.Hour
	MaxEventAgeDefault  = 24 * time.Hour
	ConsentTTLDefault   = 17520 * time.Hour // two years: the VPPA's limit for advance consent
)

// Rules are the tunable share rules (WATCHSHARE_SHARE_AFTER and friends).
// The zero value means the defaults.
type Rules struct {
	ShareAfter   time.Duration // watch time before a title is shared
	ReshareAfter time.Duration // no second post of a title by a member within this
	MaxEventAge  time.Duration // older events are never posted
	ConsentTTL   time.Duration // how long consent given at connect lasts
}

// WithDefaults returns r with zero fields set to their defaults.
func (r Rules) WithDefaults() Rules {
	if r.ShareAfter <= 0 {
		r.ShareAfter = ShareAfterDefault
	}
	if r.ReshareAfter <= 0 {
		r.ReshareAfter = ReshareAfterDefault
	}
	if r.MaxEventAge <= 0 {
		r.MaxEventAge = MaxEventAgeDefault
	}
	if r.ConsentTTL <= 0 {
		r.ConsentTTL = ConsentTTLDefault
	}
	return r
}

// SkipReason says why an event was not posted. Each is a label of the
// skipped-events counter, so keep them stable and snake_case.
type SkipReason string

// Skip reasons, in the order Decide checks them.
const (
	SkipNone             SkipReason = ""
	SkipKidsProfile      SkipReason = "kids_profile"
	SkipBelowThreshold   SkipReason = "below_threshold"
	SkipStale            SkipReason = "stale"
	SkipNotConnected     SkipReason = "not_connected"
	SkipReconnect        SkipReason = "reconnect_required"
	SkipNoPermission     SkipReason = "no_publish_permission"
	SkipConsentExpired   SkipReason = "consent_expired"
	SkipSharingPaused    SkipReason = "sharing_paused"
	SkipHidden           SkipReason = "title_hidden"
	SkipSharedInSession  SkipReason = "already_shared_in_session"
	SkipSharedRecently   SkipReason = "shared_recently"
	SkipPostInFlight     SkipReason = "post_in_flight"
	SkipAlreadyProcessed SkipReason = "already_processed"
)

// SkipReasons lists every reason, for pre-registering metrics.
var SkipReasons = []SkipReason{
	SkipKidsProfile, SkipBelowThreshold, SkipStale, SkipNotConnected, SkipReconnect,
	SkipNoPermission, SkipConsentExpired, SkipSharingPaused, SkipHidden,
	SkipSharedInSession, SkipSharedRecently, SkipPostInFlight, SkipAlreadyProcessed,
}

// ConnectionStatus is a member's Facebook connection state.
type ConnectionStatus string

// Connection states of the contract.
const (
	NotConnected      ConnectionStatus = "not_connected"
	Connected         ConnectionStatus = "connected"
	ReconnectRequired ConnectionStatus = "reconnect_required"
)

// PriorShare is the member's latest post (or post attempt) of the title.
type PriorShare struct {
	EventID   string
	SessionID string
	At        time.Time // when it was posted, or attempted if Pending
	Pending   bool      // the post was attempted and its outcome is not recorded yet
}

// MemberState is what the rules need to know about the member and the title.
type MemberState struct {
	Status         ConnectionStatus
	CanPublish     bool      // publish_actions granted
	ConsentAt      time.Time // when the member connected (gave consent)
	SharingEnabled bool
	TitleHidden    bool
	LastShare      *PriorShare // nil if the title was never posted for the member
}

// Decision is the outcome of Decide: Post, or skip for Reason.
type Decision struct {
	Post   bool
	Reason SkipReason
}

func skip(r SkipReason) Decision { return Decision{Reason: r} }

// Eligible checks the rules that depend on the event alone, so that the
// great majority of heartbeats are skipped before any lookup. It returns
// SkipNone when the member's state must be consulted.
func (r Rules) Eligible(now time.Time, ev WatchEvent) SkipReason {
	if ev.KidsProfile {
		return SkipKidsProfile
	}
	shareAfter := int64(r.ShareAfter / time.Second)
	if ev.WatchedSeconds < shareAfter && (ev.DurationSeconds <= 0 || 2*ev.WatchedSeconds < ev.DurationSeconds) {
		return SkipBelowThreshold
	}
	if now.Sub(ev.OccurredAt) > r.MaxEventAge {
		return SkipStale
	}
	return SkipNone
}

// Decide applies every rule of "When a title is shared" to one event. r must
// have its defaults applied. It is pure: the same inputs give the same answer.
func (r Rules) Decide(now time.Time, ev WatchEvent, m MemberState) Decision {
	if reason := r.Eligible(now, ev); reason != SkipNone {
		return skip(reason)
	}
	switch m.Status {
	case Connected:
	case ReconnectRequired:
		return skip(SkipReconnect)
	default:
		return skip(SkipNotConnected)
	}
	if !m.CanPublish {
		return skip(SkipNoPermission)
	}
	if m.ConsentAt.IsZero() || !now.Before(m.ConsentAt.Add(r.ConsentTTL)) {
		return skip(SkipConsentExpired)
	}
	if !m.SharingEnabled {
		return skip(SkipSharingPaused)
	}
	if m.TitleHidden {
		return skip(SkipHidden)
	}
	if p := m.LastShare; p != nil {
		switch {
		case p.EventID == ev.EventID && !p.Pending:
			return skip(SkipAlreadyProcessed)
		case p.Pending:
			// Another delivery is posting this title right now (or crashed
			// while doing so); the caller reconciles instead of posting.
			return skip(SkipPostInFlight)
		case p.SessionID == ev.SessionID:
			return skip(SkipSharedInSession)
		case now.Sub(p.At) < r.ReshareAfter:
			return skip(SkipSharedRecently)
		}
	}
	return Decision{Post: true}
}

package graphtest

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
)

// Fixture is the JSON form of users, friendships and app authorizations
// read by Load and LoadFile:
//
//	{
//	  "users": [
//	    {"id": "10153418311072858", "name": "Jane Doe",
//	     "scopes": ["public_profile", "user_friends"], "declined": ["publish_actions"]},
//	    {"id": "10152949301558339", "name": "Sam Lee"}
//	  ],
//	  "friendships": [["10153418311072858", "10152949301558339"]]
//	}
//
// A user with "scopes" has already authorized the app with them (as
// AuthorizeApp); one without has never used the app. Friendships are
// added in file order, which is the order /me/friends lists them.
type Fixture struct {
	Users       []FixtureUser `json:"users"`
	Friendships [][2]string   `json:"friendships"`
}

// FixtureUser is one user of a Fixture.
type FixtureUser struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Scopes   []string `json:"scopes,omitempty"`
	Declined []string `json:"declined,omitempty"`
}

// LoadFile reads a Fixture from a JSON file; see Load.
func (s *Server) LoadFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("graphtest: %w", err)
	}
	defer f.Close()
	if err := s.Load(f); err != nil {
		return fmt.Errorf("%w (%s)", err, path)
	}
	return nil
}

// Load reads a Fixture from r and adds its users, authorizations and
// friendships to the server. Unknown fields, empty or duplicate ids and
// friendships naming unknown users are errors, and then nothing is added.
func (s *Server) Load(r io.Reader) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var fx Fixture
	if err := dec.Decode(&fx); err != nil {
		return fmt.Errorf("graphtest: load: %w", err)
	}
	return s.Apply(fx)
}

// Apply adds the contents of fx to the server (see Load).
func (s *Server) Apply(fx Fixture) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stateLocked()
	seen := map[string]bool{}
	for i, u := range fx.Users {
		if u.ID == "" || u.Name == "" {
			return fmt.Errorf("graphtest: load: user %d needs an id and a name", i)
		}
		if seen[u.ID] {
			return fmt.Errorf("graphtest: load: duplicate user id %q", u.ID)
		}
		seen[u.ID] = true
	}
	for _, f := range fx.Friendships {
		for _, id := range f {
			if !seen[id] && st.users[id] == nil {
				return fmt.Errorf("graphtest: load: friendship names unknown user %q", id)
			}
		}
	}
	for _, u := range fx.Users {
		s.addUserLocked(User{ID: u.ID, Name: u.Name})
		if u.Scopes != nil || u.Declined != nil {
			s.grantLocked(u.ID, u.Scopes, u.Declined)
		}
	}
	for _, f := range fx.Friendships {
		s.addFriendsLocked(f[0], f[1])
	}
	return nil
}

var firstNames = []string{"Emma", "Liam", "Olivia", "Noah", "Ava", "Lucas", "Mia", "Ethan", "Sofia", "Mateo",
	"Chloe", "Aiden", "Priya", "Kenji", "Fatima", "Diego", "Hannah", "Omar", "Ingrid", "Tomasz", "Aisha", "Luca", "Mei", "Jonas"}

var lastNames = []string{"Johnson", "García", "Nguyen", "Okafor", "Schmidt", "Rossi", "Kowalski", "Tanaka", "Haddad",
	"Silva", "O'Brien", "Larsen", "Patel", "Dubois", "Kim", "Moreau", "Novak", "Ibrahim", "Fischer"}

// GenerateFriends creates n new users with realistic names, makes each a
// friend of userID (in creation order) and, when scopes are given,
// authorizes the app for each of them with those scopes (include
// "user_friends" for them to show up in /me/friends). It returns the new
// users.
func (s *Server) GenerateFriends(userID string, n int, scopes ...string) []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stateLocked()
	s.mustUserLocked(userID)
	out := make([]User, 0, n)
	for range n {
		k := int(st.idSeq)
		name := firstNames[k%len(firstNames)] + " " + lastNames[(k/len(firstNames)+k)%len(lastNames)]
		u := s.addUserLocked(User{Name: name})
		if len(scopes) > 0 {
			s.grantLocked(u.ID, slices.Clone(scopes), nil)
		}
		s.addFriendsLocked(userID, u.ID)
		out = append(out, u)
	}
	return out
}

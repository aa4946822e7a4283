package main

import (
	"context"
	"errors"
	"io"
	"net/http"
)

// runDemo runs the whole system on embedded defaults and drives the story.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return errors.New("demo: not built yet")
}

func devAccountPage(cfg config) func(*http.ServeMux) { return nil }

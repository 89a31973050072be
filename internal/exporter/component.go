package exporter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/bpfleet/bpfleet/internal/retry"
)

// ComponentSpec declares an exporter-wide part that collectors share: a
// D-Bus connection, a CRI client, the workload resolver, the BPF loader.
// Its flags are --<name>.<option>; it is constructed once, in the
// background, retried with backoff like a collector, handed to collectors by
// Env.Component, and closed after every collector.
//
// The package that owns a component declares its ComponentSpec and a typed
// accessor (see Use); the scaffold knows nothing of what it holds, so an
// exporter links only the components its Program lists.
type ComponentSpec struct {
	Name string
	// Flags declares the component's --<name>.<option> flags and returns
	// its constructor; a nil Flags needs a Constructor.
	Flags       func(fs *FlagSet) NewComponent
	Constructor NewComponent
}

// NewComponent constructs a component. env.Name is the component's name and
// env.Component gives the components it depends on, which must be listed
// before it in the Program. ctx ends at shutdown. The value returned may
// implement io.Closer (closed once at shutdown, after every collector) and
// Runner (run in the background, as a collector's is). A constructor that
// fails must release what it acquired; one whose error wraps
// errors.ErrUnsupported is not retried, and the collectors that ask for the
// component get that error, so they are reported unsupported too.
type NewComponent func(ctx context.Context, env Env) (any, error)

// errNotInProgram is what Env.Component returns for a component that the
// Program does not list: a programming error, not retried.
var errNotInProgram = errors.New("component not listed in the Program")

// component supervises one constructed component.
type component struct {
	name  string
	build NewComponent
	env   Env
	retry []retry.Option

	tried chan struct{} // closed once the constructor returned once
	once  sync.Once

	mu    sync.Mutex
	value any
	err   error // the latest construction error; nil once constructed
	run   runState
}

// get returns the component once its constructor has returned at least
// once: its value, or the error of its latest attempt.
func (c *component) get(ctx context.Context) (any, error) {
	select {
	case <-c.tried:
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for component %s: %w", c.name, context.Cause(ctx))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.value != nil {
		return c.value, nil
	}
	return nil, fmt.Errorf("component %s: %w", c.name, c.err)
}

// start constructs the component, retrying until it succeeds or ctx is
// done, then runs it if it is a Runner.
func (c *component) start(ctx context.Context) {
	defer c.once.Do(func() { close(c.tried) })
	v := construct(ctx, c.env, c.retry, "component", func(ctx context.Context) (any, error) {
		v, err := c.build(ctx, c.env)
		if err != nil {
			v = nil // a typed nil (or half-built value) returned with an error is not a component
		} else if isNil(v) {
			err = errors.New("constructor returned no component")
		}
		c.mu.Lock()
		c.value, c.err = v, err
		c.mu.Unlock()
		c.once.Do(func() { close(c.tried) })
		return v, err
	})
	if r, ok := v.(Runner); ok {
		c.run.loop(ctx, r, c.env, c.retry)
	}
}

func (c *component) close() {
	c.mu.Lock()
	v := c.value
	c.mu.Unlock()
	if closer, ok := v.(io.Closer); ok {
		if err := closer.Close(); err != nil {
			c.env.Logger.Error("Cannot close component", "err", err)
		}
	}
}

// construct calls build until it succeeds, is unsupported or ctx is done,
// logging each failure, and returns what it built (nil if nothing).
func construct[T any](ctx context.Context, env Env, opts []retry.Option, kind string, build func(context.Context) (T, error)) T {
	var built T
	onError := retry.OnError(func(err error, next time.Duration) {
		env.Logger.Error("Cannot construct "+kind, "err", err, "retry_in", next)
	})
	err := retry.Do(ctx, func(ctx context.Context) error {
		v, err := build(ctx)
		if unsupported(err) {
			env.Logger.Warn("Not supported on this host; the "+kind+" stays off", "err", err)
			return retry.Permanent(err)
		}
		if err != nil {
			return err
		}
		built = v
		env.Logger.Info(capitalized(kind) + " ready")
		return nil
	}, append(slices.Clone(opts), onError)...)
	if err != nil {
		env.Logger.Debug("Construction stopped", "err", err)
	}
	return built
}

func capitalized(s string) string {
	if s == "" {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

// unsupported reports whether err says that this host lacks a feature,
// which retrying cannot change. Packages that meet their own "not
// supported" errors (cilium/ebpf's) wrap errors.ErrUnsupported.
func unsupported(err error) bool {
	return errors.Is(err, errors.ErrUnsupported)
}

// Use returns the component called name from env, as constructed by its
// NewComponent, waiting for the component's first construction attempt. It
// is how a component's package offers a typed accessor:
//
//	func FromEnv(ctx context.Context, env exporter.Env) (*Resolver, error) {
//		return exporter.Use[*Resolver](ctx, env, "workload")
//	}
func Use[T any](ctx context.Context, env Env, name string) (T, error) {
	var zero T
	v, err := env.Component(ctx, name)
	if err != nil {
		return zero, err
	}
	t, ok := v.(T)
	if !ok {
		return zero, fmt.Errorf("component %s is a %T, not a %T", name, v, zero)
	}
	return t, nil
}

// WithComponents returns env with components whose values are given, as if
// constructed: how test harnesses hand a collector (or component)
// constructor the components that a Program would build. Components of env
// stay available unless values names them too.
func (e Env) WithComponents(values map[string]any) Env {
	m := make(map[string]*component, len(e.components)+len(values))
	maps.Copy(m, e.components)
	for name, v := range values {
		c := &component{name: name, value: v, tried: make(chan struct{})}
		close(c.tried)
		m[name] = c
	}
	e.components = m
	return e
}

// isNil reports whether v is nil or a nil pointer, map, slice, channel,
// function or interface inside an interface.
func isNil(v any) bool {
	if v == nil {
		return true
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Chan, reflect.Func, reflect.Interface:
		return rv.IsNil()
	}
	return false
}

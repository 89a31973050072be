package collector

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bpfleet/bpfleet/internal/exporter"
)

// D-Bus names of systemd's manager.
const (
	systemdService = "org.freedesktop.systemd1"
	managerPath    = dbus.ObjectPath("/org/freedesktop/systemd1")
	managerIface   = "org.freedesktop.systemd1.Manager"
	unitIface      = "org.freedesktop.systemd1.Unit"
	propsIface     = "org.freedesktop.DBus.Properties"
	unitPathPrefix = "/org/freedesktop/systemd1/unit/"
)

// defaultSystemBus is where the system bus listens when neither
// --systemd.address nor DBUS_SYSTEM_BUS_ADDRESS says otherwise.
const defaultSystemBus = "unix:path=/run/dbus/system_bus_socket"

// errNoConnection is what calls return while the bus is not connected.
var errNoConnection = errors.New("not connected to the D-Bus system bus")

// Component is the D-Bus connection every collector of systemd_exporter
// shares: one connection to the system bus (--systemd.address), redialled
// with the scaffold's backoff when systemd or dbus-daemon restarts (its
// Runner), and the timing of every call made on it.
var Component = exporter.ComponentSpec{
	Name: "systemd",
	Flags: func(fs *exporter.FlagSet) exporter.NewComponent {
		address := fs.Flag("address", "D-Bus address of the system bus; empty: $DBUS_SYSTEM_BUS_ADDRESS, else "+defaultSystemBus+".").Default("").String()
		maxRequests := fs.Flag("max-requests", "Most D-Bus calls the exporter has in flight at once (dbus-daemon refuses more than 128 pending replies per connection).").Default("16").Int()
		fs.Validate(func() error {
			if *maxRequests < 1 || *maxRequests > 128 {
				return fmt.Errorf("--systemd.max-requests: %d is not between 1 and 128", *maxRequests)
			}
			return nil
		})
		return func(ctx context.Context, env exporter.Env) (any, error) {
			b, err := newBus(*address, *maxRequests)
			if err != nil {
				return nil, err // not a typed nil in the interface
			}
			return b, nil
		}
	},
}

// FromEnv returns the systemd component.
func FromEnv(ctx context.Context, env exporter.Env) (*Bus, error) {
	return exporter.Use[*Bus](ctx, env, "systemd")
}

// Bus is the connection to systemd over the system bus.
type Bus struct {
	address  string
	slots    chan struct{}
	duration *prometheus.HistogramVec

	mu      sync.Mutex
	conn    *dbus.Conn
	changed chan struct{} // closed and replaced when conn changes
}

func newBus(address string, maxRequests int) (*Bus, error) {
	if address == "" {
		address = os.Getenv("DBUS_SYSTEM_BUS_ADDRESS")
	}
	if address == "" {
		if _, err := os.Stat("/run/systemd/system"); err != nil {
			return nil, fmt.Errorf("the host is not booted with systemd (no /run/systemd/system) and no --systemd.address is given: %w", errors.ErrUnsupported)
		}
		address = defaultSystemBus
	}
	return &Bus{
		address: address,
		slots:   make(chan struct{}, maxRequests),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:                        dbusRequestDuration.Name,
			Help:                        dbusRequestDuration.Help,
			Buckets:                     prometheus.ExponentialBucketsRange(0.0001, 10, 16),
			NativeHistogramBucketFactor: 1.1,
		}, dbusRequestDuration.LabelNames()),
		changed: make(chan struct{}),
	}, nil
}

// Address is the bus address the component dials.
func (b *Bus) Address() string { return b.address }

// Run dials the bus, keeps the connection until it is lost and then
// returns an error, so that the scaffold dials again with backoff.
func (b *Bus) Run(ctx context.Context) error {
	conn, err := dbus.Connect(b.address, dbus.WithContext(ctx), dbus.WithSignalHandler(dbus.NewSequentialSignalHandler()))
	if err != nil {
		return fmt.Errorf("connecting to %s: %w", b.address, err)
	}
	b.set(conn)
	defer b.set(nil)
	defer conn.Close()
	select {
	case <-ctx.Done():
		return nil
	case <-conn.Context().Done():
		return fmt.Errorf("D-Bus connection to %s lost", b.address)
	}
}

func (b *Bus) set(conn *dbus.Conn) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.conn = conn
	close(b.changed)
	b.changed = make(chan struct{})
}

// Conn returns the current connection, or errNoConnection.
func (b *Bus) Conn() (*dbus.Conn, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.conn == nil {
		return nil, errNoConnection
	}
	return b.conn, nil
}

// Wait returns the connection once there is one.
func (b *Bus) Wait(ctx context.Context) (*dbus.Conn, error) {
	for {
		b.mu.Lock()
		conn, changed := b.conn, b.changed
		b.mu.Unlock()
		if conn != nil {
			return conn, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Close closes the connection, if any.
func (b *Bus) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.conn != nil {
		return b.conn.Close()
	}
	return nil
}

// call makes one timed method call on conn, waiting for one of the
// --systemd.max-requests slots first. method is "Interface.Member".
func (b *Bus) call(ctx context.Context, conn *dbus.Conn, path dbus.ObjectPath, method string, args ...any) *dbus.Call {
	select {
	case b.slots <- struct{}{}:
	case <-ctx.Done():
		return &dbus.Call{Err: ctx.Err()}
	}
	defer func() { <-b.slots }()
	start := time.Now()
	c := conn.Object(systemdService, path).CallWithContext(ctx, method, 0, args...)
	if c.Err == nil || isBusError(c.Err) {
		short := method[strings.LastIndexByte(method, '.')+1:]
		if method == propsIface+".GetAll" || method == propsIface+".Get" {
			short = method[len("org.freedesktop.DBus."):]
		}
		b.duration.WithLabelValues(short).Observe(time.Since(start).Seconds())
	}
	return c
}

// isBusError reports whether err is an error reply from the bus (the call
// reached it), not a failure to send or a timeout.
func isBusError(err error) bool {
	var e dbus.Error
	return errors.As(err, &e)
}

package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"regexp"
	"sort"
	"sync"
	"time"

	"github.com/godbus/dbus/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bpfleet/bpfleet/internal/catalog"
	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/limits"
)

// activeStates are the ActiveState values served by systemd_unit_state
// for every unit, as prometheus-community/systemd_exporter serves them; a
// unit in another state (reloading, maintenance) has that state's series too.
var activeStates = []string{"active", "activating", "deactivating", "inactive", "failed"}

// goneGrace is how long the counters of a unit that systemd no longer
// lists are still served.
const goneGrace = 5 * time.Minute

var unitSpec = exporter.Spec{
	Name:      "unit",
	Help:      "Unit states, transitions, failures, restarts and resources from systemd over D-Bus.",
	Default:   true,
	MaxSeries: 10000,
	Flags: func(fs *exporter.FlagSet) exporter.New {
		include := fs.Flag("include", "Regexp of the unit names to report (anchored).").Default(".+").String()
		exclude := fs.Flag("exclude", "Regexp of the unit names not to report (anchored).").Default(`.+\.(automount|device|mount|scope|slice)`).String()
		var inc, exc *regexp.Regexp
		fs.Validate(func() (err error) {
			if inc, err = regexp.Compile("^(?:" + *include + ")$"); err != nil {
				return fmt.Errorf("--collector.unit.include: %w", err)
			}
			if exc, err = regexp.Compile("^(?:" + *exclude + ")$"); err != nil {
				return fmt.Errorf("--collector.unit.exclude: %w", err)
			}
			return nil
		})
		return func(ctx context.Context, env exporter.Env) (exporter.Collector, error) {
			bus, err := FromEnv(ctx, env)
			if err != nil {
				return nil, err
			}
			return newUnitCollector(bus, inc, exc, env), nil
		}
	},
}

// unitCollector serves the state of every unit at scrape time and counts,
// from the PropertiesChanged signals systemd sends after Subscribe, every
// transition and failure between scrapes (its Runner).
type unitCollector struct {
	bus              *Bus
	include, exclude *regexp.Regexp
	logger           *slog.Logger
	transLimit       *limits.Limiter
	failLimit        *limits.Limiter
	now              func() time.Time

	mu          sync.Mutex
	units       map[string]*unitTrack
	transitions map[[2]string]float64 // name, state entered
	failures    map[[2]string]float64 // name, result
	props       map[string]*unitProps
}

// unitTrack is what the signals said of one unit.
type unitTrack struct {
	active, sub string
	result      string // the service's latest signalled Result
	gen         uint64 // bumped by every signal on the Unit interface
	goneSince   time.Time
}

// unitProps are the properties fetched for one unit, valid while the
// unit's gen is unchanged.
type unitProps struct {
	gen         uint64
	startTime   float64 // 0: never active
	serviceType string
	mountType   string
	values      map[*catalog.Metric]float64
	// live is whether a value that changes without a signal was set
	// (tasks, resources, socket connections): then the unit is fetched
	// at every scrape while it is not inactive.
	live bool
}

func newUnitCollector(bus *Bus, include, exclude *regexp.Regexp, env exporter.Env) *unitCollector {
	return &unitCollector{
		bus: bus, include: include, exclude: exclude, logger: env.Logger,
		transLimit:  limits.New(unitTransitions.Name, env.MaxSeries, env.Self),
		failLimit:   limits.New(serviceFailures.Name, env.MaxSeries, env.Self),
		now:         time.Now,
		units:       make(map[string]*unitTrack),
		transitions: make(map[[2]string]float64),
		failures:    make(map[[2]string]float64),
		props:       make(map[string]*unitProps),
	}
}

func (c *unitCollector) wanted(name string) bool {
	return c.include.MatchString(name) && !c.exclude.MatchString(name)
}

// listedUnit is one entry of Manager.ListUnits.
type listedUnit struct {
	Name, Description, LoadState, ActiveState, SubState, Followed string
	Path                                                          dbus.ObjectPath
	JobID                                                         uint32
	JobType                                                       string
	JobPath                                                       dbus.ObjectPath
}

// listUnits returns every unit systemd has loaded and the sequence number
// of the reply, which orders it among the signals.
func (c *unitCollector) listUnits(ctx context.Context, conn *dbus.Conn) ([]listedUnit, dbus.Sequence, error) {
	call := c.bus.call(ctx, conn, managerPath, managerIface+".ListUnits")
	if call.Err != nil {
		return nil, 0, fmt.Errorf("ListUnits: %w", call.Err)
	}
	var units []listedUnit
	if err := call.Store(&units); err != nil {
		return nil, 0, fmt.Errorf("ListUnits reply: %w", err)
	}
	return units, call.ResponseSequence, nil
}

// Run subscribes to systemd's signals and counts every transition and
// failure they report until the connection is lost (an error: the scaffold
// runs it again once the bus is back).
func (c *unitCollector) Run(ctx context.Context) error {
	conn, err := c.bus.Wait(ctx)
	if err != nil {
		return nil // shutting down
	}
	ch := make(chan *dbus.Signal, 4096)
	conn.Signal(ch)
	defer conn.RemoveSignal(ch)
	match := []dbus.MatchOption{
		dbus.WithMatchSender(systemdService),
		dbus.WithMatchInterface(propsIface),
		dbus.WithMatchMember("PropertiesChanged"),
		dbus.WithMatchPathNamespace("/org/freedesktop/systemd1/unit"),
	}
	if err := conn.AddMatchSignalContext(ctx, match...); err != nil {
		return fmt.Errorf("adding the PropertiesChanged match: %w", err)
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn.RemoveMatchSignalContext(rctx, match...)
	}()
	if call := c.bus.call(ctx, conn, managerPath, managerIface+".Subscribe"); call.Err != nil {
		var e dbus.Error
		if !errors.As(call.Err, &e) || e.Name != "org.freedesktop.systemd1.AlreadySubscribed" {
			return fmt.Errorf("Subscribe: %w", call.Err)
		}
	}
	units, seq, err := c.listUnits(ctx, conn)
	if err != nil {
		return err
	}
	c.baseline(units)
	c.logger.Info("Following systemd's unit signals", "units", len(units))
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-conn.Context().Done():
			return fmt.Errorf("D-Bus connection lost: %w", context.Cause(conn.Context()))
		case s, ok := <-ch:
			if !ok {
				return errors.New("D-Bus connection lost")
			}
			if s.Sequence <= seq {
				continue // before the listing, which holds its effect
			}
			c.handle(s)
		}
	}
}

// baseline takes systemd's listing as the units' known states: a unit
// whose state differs from the one known before (the bus was lost
// meanwhile) counts one transition into its new state.
func (c *unitCollector) baseline(units []listedUnit) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, u := range units {
		t, ok := c.units[u.Name]
		if !ok {
			c.units[u.Name] = &unitTrack{active: u.ActiveState, sub: u.SubState, gen: 1}
			continue
		}
		if t.active != u.ActiveState && c.wanted(u.Name) {
			c.transitions[[2]string{u.Name, u.ActiveState}]++
		}
		t.active, t.sub, t.gen = u.ActiveState, u.SubState, t.gen+1
	}
}

// handle counts what one PropertiesChanged signal says.
func (c *unitCollector) handle(s *dbus.Signal) {
	if s.Name != propsIface+".PropertiesChanged" || len(s.Body) < 2 {
		return
	}
	iface, ok1 := s.Body[0].(string)
	changed, ok2 := s.Body[1].(map[string]dbus.Variant)
	if !ok1 || !ok2 {
		return
	}
	name, err := unitNameFromPath(s.Path)
	if err != nil {
		c.logger.Debug("Signal of an unknown object", "err", err)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t, ok := c.units[name]
	if !ok {
		// Loaded since the listing: it was inactive.
		t = &unitTrack{active: "inactive", sub: "dead"}
		c.units[name] = t
	}
	switch iface {
	case "org.freedesktop.systemd1.Service":
		// systemd sends the type's interface before Unit's.
		if r, ok := changed["Result"].Value().(string); ok {
			t.result = r
		}
	case unitIface:
		active, ok := changed["ActiveState"].Value().(string)
		if !ok {
			return
		}
		sub, _ := changed["SubState"].Value().(string)
		t.gen++
		wanted := c.wanted(name)
		if active != t.active && wanted {
			c.transitions[[2]string{name, active}]++
		}
		// A run that failed: systemd 252 enters failed, then auto-restart
		// (activating) when it restarts the service; older versions go
		// to auto-restart at once. One failure either way.
		failed := (active == "failed" && t.active != "failed") ||
			(sub == "auto-restart" && t.sub != "auto-restart" && t.active != "failed")
		if failed && wanted && unitType(name) == "service" && t.result != "" && t.result != "success" {
			c.failures[[2]string{name, t.result}]++
		}
		t.active, t.sub = active, sub
		t.goneSince = time.Time{}
	}
}

// Update serves the state of every unit systemd lists, the properties of
// those that need them (fetched with at most --systemd.max-requests calls
// in flight, within the scrape's deadline), and the counters of the
// signals.
func (c *unitCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	defer c.bus.duration.Collect(ch)
	conn, err := c.bus.Conn()
	if err != nil {
		return err
	}
	units, _, err := c.listUnits(ctx, conn)
	if err != nil {
		return err
	}
	if call := c.bus.call(ctx, conn, managerPath, propsIface+".Get", managerIface, "SystemState"); call.Err == nil {
		var state string
		if call.Store(&state) == nil {
			ch <- prometheus.MustNewConstMetric(desc(systemRunning), prometheus.GaugeValue, boolValue(state == "running"))
		}
	} else {
		return fmt.Errorf("SystemState: %w", call.Err)
	}

	listed := make(map[string]bool, len(units))
	var wanted []listedUnit
	counts := map[string]float64{}
	for _, s := range activeStates {
		counts[s] = 0
	}
	for _, u := range units {
		listed[u.Name] = true
		if !c.wanted(u.Name) || unitType(u.Name) == "" {
			continue
		}
		wanted = append(wanted, u)
		counts[u.ActiveState]++
	}
	for state, n := range counts {
		ch <- prometheus.MustNewConstMetric(desc(unitsByState), prometheus.GaugeValue, n, state)
	}
	fetchErr := c.fetchProps(ctx, conn, wanted)

	// Built under the lock, sent after it: a slow scrape never holds up
	// the signal follower.
	var out []prometheus.Metric
	send := func(m prometheus.Metric) { out = append(out, m) }
	c.mu.Lock()
	for _, u := range wanted {
		typ := unitType(u.Name)
		for _, s := range activeStates {
			send(prometheus.MustNewConstMetric(desc(unitState), prometheus.GaugeValue, boolValue(u.ActiveState == s), u.Name, typ, s))
		}
		if !contains(activeStates, u.ActiveState) {
			send(prometheus.MustNewConstMetric(desc(unitState), prometheus.GaugeValue, 1, u.Name, typ, u.ActiveState))
		}
		p := c.props[u.Name]
		if p == nil {
			continue
		}
		send(prometheus.MustNewConstMetric(desc(unitInfo), prometheus.GaugeValue, 1, u.Name, typ, p.mountType, p.serviceType))
		if p.startTime > 0 {
			send(prometheus.MustNewConstMetric(desc(unitStartTime), prometheus.GaugeValue, p.startTime, u.Name, typ))
		}
		for m, v := range p.values {
			labels := []string{u.Name}
			if len(m.Labels) == 1 { // type
				labels = append(labels, typ)
			}
			send(prometheus.MustNewConstMetric(desc(m), m.Type.ValueType(), v, labels...))
		}
	}
	c.reap(listed)
	c.emitCounters(send)
	c.mu.Unlock()
	for _, m := range out {
		ch <- m
	}
	return fetchErr
}

// reap forgets units systemd stopped listing goneGrace ago.
func (c *unitCollector) reap(listed map[string]bool) {
	now := c.now()
	for name, t := range c.units {
		if listed[name] {
			t.goneSince = time.Time{}
			continue
		}
		if t.goneSince.IsZero() {
			t.goneSince = now
			continue
		}
		if now.Sub(t.goneSince) < goneGrace {
			continue
		}
		delete(c.units, name)
		delete(c.props, name)
		for k := range c.transitions {
			if k[0] == name {
				delete(c.transitions, k)
			}
		}
		for k := range c.failures {
			if k[0] == name {
				delete(c.failures, k)
			}
		}
		c.transLimit.Forget(name)
		c.failLimit.Forget(name)
	}
}

// emitCounters serves the signal counters, each unit under its own name
// while the metric's series cap admits it, else in the overflow series.
func (c *unitCollector) emitCounters(send func(prometheus.Metric)) {
	overflow := limits.OverflowValues(1)[0]
	trans := map[[3]string]float64{}
	for _, k := range sortedKeys(c.transitions) {
		name := k[0]
		if !c.transLimit.Admit(name) {
			name = overflow
		}
		trans[[3]string{name, unitType(k[0]), k[1]}] += c.transitions[k]
	}
	for k, v := range trans {
		send(prometheus.MustNewConstMetric(desc(unitTransitions), prometheus.CounterValue, v, k[0], k[1], k[2]))
	}
	fails := map[[2]string]float64{}
	for _, k := range sortedKeys(c.failures) {
		name := k[0]
		if !c.failLimit.Admit(name) {
			name = overflow
		}
		fails[[2]string{name, k[1]}] += c.failures[k]
	}
	for k, v := range fails {
		send(prometheus.MustNewConstMetric(desc(serviceFailures), prometheus.CounterValue, v, k[0], k[1]))
	}
}

func sortedKeys(m map[[2]string]float64) [][2]string {
	keys := make([][2]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i][0] != keys[j][0] {
			return keys[i][0] < keys[j][0]
		}
		return keys[i][1] < keys[j][1]
	})
	return keys
}

// typeInterfaces are the unit types whose own interface has properties
// served.
var typeInterfaces = map[string]struct{ iface string }{
	"service": {"org.freedesktop.systemd1.Service"},
	"socket":  {"org.freedesktop.systemd1.Socket"},
	"timer":   {"org.freedesktop.systemd1.Timer"},
	"mount":   {"org.freedesktop.systemd1.Mount"},
}

// fetchProps refreshes the properties of the units that need it: those
// signalled since their last fetch, and those not inactive whose last fetch
// had a value that changes without a signal (tasks, resources, socket
// connection counts: set only where accounting is on).
func (c *unitCollector) fetchProps(ctx context.Context, conn *dbus.Conn, units []listedUnit) error {
	type job struct {
		u    listedUnit
		gen  uint64
		prev *unitProps
	}
	var jobs []job
	c.mu.Lock()
	for _, u := range units {
		var gen uint64
		if t := c.units[u.Name]; t != nil {
			gen = t.gen
		}
		p := c.props[u.Name]
		if p == nil || p.gen != gen || gen == 0 || (p.live && u.ActiveState != "inactive") {
			jobs = append(jobs, job{u, gen, p})
		}
	}
	c.mu.Unlock()

	work := make(chan job)
	var wg sync.WaitGroup
	var errMu sync.Mutex
	var firstErr error
	for range min(cap(c.bus.slots), len(jobs)) {
		wg.Go(func() {
			for j := range work {
				var prevStart *float64
				if j.prev != nil && j.prev.gen == j.gen && j.gen != 0 {
					prevStart = &j.prev.startTime // unchanged without a signal
				}
				p, err := c.unitProps(ctx, conn, j.u, prevStart)
				if err != nil {
					var e dbus.Error
					if errors.As(err, &e) {
						continue // the unit went away meanwhile
					}
					errMu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("properties of %s: %w", j.u.Name, err)
					}
					errMu.Unlock()
					continue
				}
				p.gen = j.gen
				c.mu.Lock()
				c.props[j.u.Name] = p
				c.mu.Unlock()
			}
		})
	}
	for _, j := range jobs {
		if ctx.Err() != nil {
			break
		}
		work <- j
	}
	close(work)
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = fmt.Errorf("fetching unit properties: %w", ctx.Err())
	}
	return firstErr
}

// unitProps fetches one unit's properties: ActiveEnterTimestamp and, for
// services, sockets, timers and mounts, their type's interface.
func (c *unitCollector) unitProps(ctx context.Context, conn *dbus.Conn, u listedUnit, prevStart *float64) (*unitProps, error) {
	p := &unitProps{values: map[*catalog.Metric]float64{}}
	if prevStart != nil {
		p.startTime = *prevStart
	} else {
		call := c.bus.call(ctx, conn, u.Path, propsIface+".Get", unitIface, "ActiveEnterTimestamp")
		if call.Err != nil {
			return nil, call.Err
		}
		var ts uint64
		if err := call.Store(&ts); err != nil {
			return nil, err
		}
		if ts != 0 && ts != math.MaxUint64 {
			p.startTime = float64(ts) / 1e6
		}
	}
	typ := unitType(u.Name)
	ti, ok := typeInterfaces[typ]
	if !ok {
		return p, nil
	}
	call := c.bus.call(ctx, conn, u.Path, propsIface+".GetAll", ti.iface)
	if call.Err != nil {
		return nil, call.Err
	}
	var all map[string]dbus.Variant
	if err := call.Store(&all); err != nil {
		return nil, err
	}
	set := func(m *catalog.Metric, prop string, scale float64) {
		if v, ok := number(all[prop]); ok {
			p.values[m] = v * scale
			p.live = p.live || liveMetrics[m]
		}
	}
	switch typ {
	case "service":
		p.serviceType, _ = all["Type"].Value().(string)
		set(serviceRestarts, "NRestarts", 1)
		set(unitTasksCurrent, "TasksCurrent", 1)
		set(unitTasksMax, "TasksMax", 1)
		set(unitMemory, "MemoryCurrent", 1)
		set(unitMemoryPeak, "MemoryPeak", 1)
		set(unitCPU, "CPUUsageNSec", 1e-9)
		set(unitIORead, "IOReadBytes", 1)
		set(unitIOWrite, "IOWriteBytes", 1)
	case "socket":
		set(socketAccepted, "NAccepted", 1)
		set(socketCurrent, "NConnections", 1)
		set(socketRefused, "NRefused", 1)
	case "timer":
		if v, ok := number(all["LastTriggerUSec"]); ok && v != 0 {
			p.values[timerLastTrigger] = v / 1e6
		}
	case "mount":
		p.mountType, _ = all["Type"].Value().(string)
	}
	return p, nil
}

// liveMetrics change without a signal.
var liveMetrics = map[*catalog.Metric]bool{
	unitTasksCurrent: true, unitMemory: true, unitMemoryPeak: true, unitCPU: true,
	unitIORead: true, unitIOWrite: true, socketAccepted: true, socketCurrent: true, socketRefused: true,
}

// number returns the value of an unsigned D-Bus property, and false when it
// is absent or "[not set]" (UINT64_MAX, or UINT32_MAX for 32-bit values).
func number(v dbus.Variant) (float64, bool) {
	switch x := v.Value().(type) {
	case uint64:
		if x == math.MaxUint64 {
			return 0, false
		}
		return float64(x), true
	case uint32:
		if x == math.MaxUint32 {
			return 0, false
		}
		return float64(x), true
	}
	return 0, false
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

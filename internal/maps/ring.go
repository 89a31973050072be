package maps

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"
)

// ReadRing reads the ring buffer m until ctx is done, calling handle with
// each record (the slice is reused: copy what outlives the call) and tick
// at least every interval and after each record (to publish lost events,
// expire state). It returns nil once ctx is done, or the first error of
// reading or of tick. It owns its reader, so it is the whole body of a
// collector's exporter.Runner:
//
//	func (c *collector) Run(ctx context.Context) error {
//		return maps.ReadRing(ctx, c.objs.Events, time.Second, c.handle, c.reportLost)
//	}
func ReadRing(ctx context.Context, m *ebpf.Map, interval time.Duration, handle func(raw []byte), tick func() error) error {
	rd, err := ringbuf.NewReader(m)
	if err != nil {
		return fmt.Errorf("reading ring buffer %s: %w", m.String(), err)
	}
	defer rd.Close()
	stop := context.AfterFunc(ctx, func() { rd.Close() }) // interrupts Read
	defer stop()
	var rec ringbuf.Record
	for {
		rd.SetDeadline(time.Now().Add(interval))
		err := rd.ReadInto(&rec)
		switch {
		case err == nil:
			handle(rec.RawSample)
		case errors.Is(err, ringbuf.ErrClosed):
			return nil
		case !errors.Is(err, os.ErrDeadlineExceeded):
			return fmt.Errorf("reading ring buffer %s: %w", m.String(), err)
		}
		if tick != nil {
			if err := tick(); err != nil {
				return err
			}
		}
	}
}

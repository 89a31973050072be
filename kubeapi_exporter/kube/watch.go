package kube

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

// Watch is one watched resource: a reflector-based informer over a
// ListerWatcher that counts the watch's events, restarts and relists, and
// remembers whether its latest list or watch failed (the collector's
// Update reports that error, so its success is 0 while the API server is
// down or forbids the request).
type Watch struct {
	Resource string
	k        *Client
	informer cache.SharedIndexInformer

	mu      sync.Mutex
	lastErr error
	listed  bool      // a list (or a watch-list) has succeeded once
	down    time.Time // when the latest watch ended, until the next one opens
}

// DownGrace is how long a watch may be closed before the collector that
// owns it fails: a watch the server closes is reopened at once, but one
// whose reconnection hangs (client-go retries a broken connection
// internally) means the API server is out of reach.
var DownGrace = 5 * time.Second

// Lister lists and watches one resource with the options the reflector
// gives (resource version, bookmarks, watch-list).
type Lister struct {
	List  func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error)
	Watch func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
}

// NewWatch returns the watch of resource: an informer over l whose objects
// transform strips to what the collector needs, with handler.
func (k *Client) NewWatch(resource string, example runtime.Object, l Lister, transform cache.TransformFunc, handler cache.ResourceEventHandler) (*Watch, error) {
	w := &Watch{Resource: resource, k: k}
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			ctx, cancel := context.WithTimeout(ctx, k.RequestTimeout())
			defer cancel()
			obj, err := l.List(ctx, opts)
			w.listDone(err)
			return obj, err
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			opts.AllowWatchBookmarks = true
			wi, err := l.Watch(ctx, opts)
			initial := opts.SendInitialEvents != nil && *opts.SendInitialEvents
			if err != nil {
				w.watchFailed(err, initial)
				return nil, err
			}
			if initial {
				w.listDone(nil)
			} else {
				w.setErr(nil)
			}
			w.mu.Lock()
			w.down = time.Time{}
			w.mu.Unlock()
			return w.counted(wi), nil
		},
	}
	w.informer = cache.NewSharedIndexInformerWithOptions(lw, example, cache.SharedIndexInformerOptions{ObjectDescription: resource})
	if transform != nil {
		if err := w.informer.SetTransform(transform); err != nil {
			return nil, err
		}
	}
	if _, err := w.informer.AddEventHandler(handler); err != nil {
		return nil, err
	}
	// Never silently lose a watch error: keep it for Update and log nothing
	// twice (the reflector logs it too).
	if err := w.informer.SetWatchErrorHandlerWithContext(func(ctx context.Context, r *cache.Reflector, err error) {
		cache.DefaultWatchErrorHandler(ctx, r, err)
		if !errors.Is(err, context.Canceled) && !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
			w.setErr(err)
		}
	}); err != nil {
		return nil, err
	}
	return w, nil
}

// Run runs the informer until ctx is done.
func (w *Watch) Run(ctx context.Context) error {
	w.informer.RunWithContext(ctx)
	return nil
}

// Err returns why the watch is not healthy: not listed yet, or the latest
// list or watch failed.
func (w *Watch) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.lastErr != nil {
		return fmt.Errorf("%s: %w", w.Resource, w.lastErr)
	}
	if !w.listed || !w.informer.HasSynced() {
		return fmt.Errorf("%s: not listed yet", w.Resource)
	}
	if !w.down.IsZero() && time.Since(w.down) > DownGrace {
		return fmt.Errorf("%s: no watch open since %s (reconnecting)", w.Resource, w.down.UTC().Format(time.RFC3339))
	}
	return nil
}

func (w *Watch) setErr(err error) {
	w.mu.Lock()
	w.lastErr = err
	w.mu.Unlock()
}

func (w *Watch) listDone(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lastErr = err
	if err != nil {
		return
	}
	if w.listed {
		w.k.Relists.WithLabelValues(w.Resource).Inc()
	}
	w.listed = true
}

func (w *Watch) watchFailed(err error, initial bool) {
	if initial && (apierrors.IsBadRequest(err) || apierrors.IsInvalid(err)) {
		return // the server has no watch-list: the reflector lists instead
	}
	reason := "error"
	if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
		reason = "expired"
	} else {
		w.setErr(err)
	}
	w.k.WatchRestarts.WithLabelValues(w.Resource, reason).Inc()
}

// ended counts the end of a watch that ran: expired (an ERROR event with
// 410 Gone), error (another ERROR event) or timeout (the server closed it).
func (w *Watch) ended(reason string) {
	w.mu.Lock()
	if w.down.IsZero() {
		w.down = time.Now()
	}
	w.mu.Unlock()
	w.k.WatchRestarts.WithLabelValues(w.Resource, reason).Inc()
}

// counted wraps wi so that its events are counted and its end recorded.
func (w *Watch) counted(wi watch.Interface) watch.Interface {
	out := make(chan watch.Event)
	c := &countedWatch{Interface: wi, out: out, stopped: make(chan struct{})}
	go func() {
		defer close(out)
		ended := false
		for ev := range wi.ResultChan() {
			w.k.WatchEvents.WithLabelValues(w.Resource, string(ev.Type)).Inc()
			if ev.Type == watch.Error && !ended {
				// The reflector stops the watch on an ERROR event:
				// count the end now.
				reason := "error"
				if st, ok := ev.Object.(*metav1.Status); ok && (st.Code == http.StatusGone || st.Reason == metav1.StatusReasonExpired || st.Reason == metav1.StatusReasonGone) {
					reason = "expired"
				}
				ended = true
				w.ended(reason)
			}
			select {
			case out <- ev:
			case <-c.stopped:
				return // the reflector stopped it: not a restart
			}
		}
		select {
		case <-c.stopped:
		default:
			if !ended {
				w.ended("timeout")
			}
		}
	}()
	return c
}

type countedWatch struct {
	watch.Interface
	out     chan watch.Event
	once    sync.Once
	stopped chan struct{}
}

func (c *countedWatch) ResultChan() <-chan watch.Event { return c.out }

func (c *countedWatch) Stop() {
	c.once.Do(func() { close(c.stopped) })
	c.Interface.Stop()
}

// WaitSynced waits until every watch has listed once or ctx ends.
func WaitSynced(ctx context.Context, watches ...*Watch) bool {
	var synced []cache.InformerSynced
	for _, w := range watches {
		synced = append(synced, w.informer.HasSynced)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Hour)
	defer cancel()
	return cache.WaitForCacheSync(ctx.Done(), synced...)
}

// Objects returns the objects the watch holds (stripped by its transform).
func (w *Watch) Objects() []any { return w.informer.GetStore().List() }

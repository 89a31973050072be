package kubelet

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"k8s.io/apimachinery/pkg/api/resource"
	stats "k8s.io/kubelet/pkg/apis/stats/v1alpha1"
)

// Summary is what the exporter keeps of a /stats/summary reply: the node
// and its pods, in the kubelet's own API types, less what no metric uses
// (system containers, network interfaces, accelerators, user-defined
// metrics).
type Summary struct {
	Node stats.NodeStats
	Pods []stats.PodStats
}

// DecodeSummary decodes a /stats/summary reply from r one pod at a time:
// the reply is never held whole. Fields the exporter does not use are
// dropped as each pod is decoded.
func DecodeSummary(r io.Reader) (*Summary, error) {
	dec := json.NewDecoder(r)
	s := &Summary{}
	err := decodeObject(dec, func(key string) error {
		switch key {
		case "node":
			if err := dec.Decode(&s.Node); err != nil {
				return fmt.Errorf("node: %w", err)
			}
			s.Node.SystemContainers, s.Node.Network = nil, nil
			return nil
		case "pods":
			return decodeArray(dec, func() error {
				var p stats.PodStats
				if err := dec.Decode(&p); err != nil {
					return fmt.Errorf("pod %d: %w", len(s.Pods), err)
				}
				trim(&p)
				s.Pods = append(s.Pods, p)
				return nil
			})
		}
		return skip(dec)
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

func trim(p *stats.PodStats) {
	p.Network = nil
	for i := range p.Containers {
		p.Containers[i].Accelerators, p.Containers[i].UserDefinedMetrics = nil, nil
	}
}

// PodSpecs is what the exporter keeps of a /pods reply, by pod UID.
type PodSpecs map[string]PodSpec

// PodSpec is what the exporter reads of one pod's spec.
type PodSpec struct {
	// EphemeralStorageLimit is the pod's ephemeral-storage limit in bytes,
	// as the kubelet's eviction manager computes it; HasLimit is false when
	// no container (and not the pod) sets one.
	EphemeralStorageLimit int64
	HasLimit              bool
	// VolumeTypes maps each volume's name to its source's field name
	// (emptyDir, configMap, projected, hostPath, ...).
	VolumeTypes map[string]string
}

// podJSON is the part of a v1.Pod that PodSpec needs.
type podJSON struct {
	Metadata struct {
		UID string `json:"uid"`
	} `json:"metadata"`
	Spec struct {
		Resources      *resourcesJSON               `json:"resources"`
		Containers     []containerJSON              `json:"containers"`
		InitContainers []containerJSON              `json:"initContainers"`
		Volumes        []map[string]json.RawMessage `json:"volumes"`
	} `json:"spec"`
}

type containerJSON struct {
	Resources     resourcesJSON `json:"resources"`
	RestartPolicy string        `json:"restartPolicy"`
}

type resourcesJSON struct {
	Limits map[string]string `json:"limits"`
}

const ephemeralStorage = "ephemeral-storage"

// DecodePods decodes a /pods reply (a v1.PodList) from r one pod at a time.
func DecodePods(r io.Reader) (PodSpecs, error) {
	dec := json.NewDecoder(r)
	out := PodSpecs{}
	err := decodeObject(dec, func(key string) error {
		if key != "items" {
			return skip(dec)
		}
		return decodeArray(dec, func() error {
			var p podJSON
			if err := dec.Decode(&p); err != nil {
				return fmt.Errorf("pod %d: %w", len(out), err)
			}
			spec, err := p.spec()
			if err != nil {
				return fmt.Errorf("pod %s: %w", p.Metadata.UID, err)
			}
			out[p.Metadata.UID] = spec
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// spec computes the pod's limit as the eviction manager does
// (resourcehelper.PodLimits): the pod-level limit if set, else the sum of
// the containers' and sidecars' (restartable init containers') limits, or
// the largest init container's if that is more.
func (p *podJSON) spec() (PodSpec, error) {
	var s PodSpec
	if len(p.Spec.Volumes) > 0 {
		s.VolumeTypes = make(map[string]string, len(p.Spec.Volumes))
	}
	for _, v := range p.Spec.Volumes {
		var name string
		if raw, ok := v["name"]; ok {
			if err := json.Unmarshal(raw, &name); err != nil {
				return s, fmt.Errorf("volume name: %w", err)
			}
		}
		for field := range v {
			if field != "name" {
				s.VolumeTypes[name] = field
			}
		}
	}
	if p.Spec.Resources != nil {
		if q, ok := p.Spec.Resources.Limits[ephemeralStorage]; ok {
			v, err := parseQuantity(q)
			s.EphemeralStorageLimit, s.HasLimit = v, err == nil
			return s, err
		}
	}
	var sum, initMax int64
	for _, c := range p.Spec.Containers {
		v, ok, err := c.limit()
		if err != nil {
			return s, err
		}
		sum, s.HasLimit = sum+v, s.HasLimit || ok
	}
	for _, c := range p.Spec.InitContainers {
		v, ok, err := c.limit()
		if err != nil {
			return s, err
		}
		s.HasLimit = s.HasLimit || ok
		if c.RestartPolicy == "Always" {
			sum += v
		} else {
			initMax = max(initMax, v)
		}
	}
	s.EphemeralStorageLimit = max(sum, initMax)
	return s, nil
}

func (c *containerJSON) limit() (int64, bool, error) {
	q, ok := c.Resources.Limits[ephemeralStorage]
	if !ok {
		return 0, false, nil
	}
	v, err := parseQuantity(q)
	return v, err == nil, err
}

func parseQuantity(s string) (int64, error) {
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return 0, fmt.Errorf("ephemeral-storage limit %q: %w", s, err)
	}
	return q.Value(), nil
}

// decodeObject reads a JSON object from dec, calling field for each key
// with dec positioned at the key's value; field must consume it.
func decodeObject(dec *json.Decoder, field func(key string) error) error {
	if err := expectDelim(dec, '{'); err != nil {
		return err
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, ok := tok.(string)
		if !ok {
			return fmt.Errorf("want an object key, got %v", tok)
		}
		if err := field(key); err != nil {
			return err
		}
	}
	return expectDelim(dec, '}')
}

// decodeArray reads a JSON array (or null) from dec, calling elem with dec
// positioned at each element; elem must consume it.
func decodeArray(dec *json.Decoder, elem func() error) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok == nil {
		return nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return fmt.Errorf("want an array, got %v", tok)
	}
	for dec.More() {
		if err := elem(); err != nil {
			return err
		}
	}
	return expectDelim(dec, ']')
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("want %q, got %v", want, tok)
	}
	return nil
}

// skip consumes one value of any kind.
func skip(dec *json.Decoder) error {
	var v json.RawMessage
	return dec.Decode(&v)
}

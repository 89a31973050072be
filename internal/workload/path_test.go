package workload

import (
	"strings"
	"testing"
)

const (
	testID     = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	testUID    = "4b2f1c3a-5d6e-4f70-8192-a3b4c5d6e7f8"
	testUIDSd  = "4b2f1c3a_5d6e_4f70_8192_a3b4c5d6e7f8"
	staticUID  = "7a1c2e0f0d2e4c5b8a9e6f1d2c3b4a5e"
	burstable  = "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + testUIDSd + ".slice/"
	guaranteed = "/kubepods.slice/kubepods-pod" + testUIDSd + ".slice/"
)

func TestParsePath(t *testing.T) {
	for _, tc := range []struct {
		name string
		path string
		want Container // zero: not a container
	}{
		// cgroupfs driver (cgroup v1, and v2 with cgroupfs).
		{"cgroupfs burstable", "/kubepods/burstable/pod" + testUID + "/" + testID,
			Container{ID: testID, PodUID: testUID, QoS: QoSBurstable}},
		{"cgroupfs besteffort", "/kubepods/besteffort/pod" + testUID + "/" + testID,
			Container{ID: testID, PodUID: testUID, QoS: QoSBestEffort}},
		{"cgroupfs guaranteed", "/kubepods/pod" + testUID + "/" + testID,
			Container{ID: testID, PodUID: testUID, QoS: QoSGuaranteed}},
		{"cgroupfs static pod uid", "/kubepods/burstable/pod" + staticUID + "/" + testID,
			Container{ID: testID, PodUID: staticUID, QoS: QoSBurstable}},
		{"cgroupfs kind node", "/kubelet/kubepods/besteffort/pod" + testUID + "/" + testID,
			Container{ID: testID, PodUID: testUID, QoS: QoSBestEffort}},
		{"cgroupfs cri-o", "/kubepods/burstable/pod" + testUID + "/crio-" + testID,
			Container{Runtime: RuntimeCRIO, ID: testID, PodUID: testUID, QoS: QoSBurstable}},
		{"cgroupfs cri-o conmon", "/kubepods/burstable/pod" + testUID + "/crio-conmon-" + testID, Container{}},
		{"v1 cpu,cpuacct mount prefix", "/sys/fs/cgroup/cpu,cpuacct/kubepods/burstable/pod" + testUID + "/" + testID,
			Container{ID: testID, PodUID: testUID, QoS: QoSBurstable}},
		{"v1 memory mount prefix", "/sys/fs/cgroup/memory/kubepods/pod" + testUID + "/" + testID,
			Container{ID: testID, PodUID: testUID, QoS: QoSGuaranteed}},
		{"v1 named systemd mount prefix", "/sys/fs/cgroup/systemd/kubepods/besteffort/pod" + testUID + "/" + testID,
			Container{ID: testID, PodUID: testUID, QoS: QoSBestEffort}},
		{"trailing slash", "/kubepods/burstable/pod" + testUID + "/" + testID + "/",
			Container{ID: testID, PodUID: testUID, QoS: QoSBurstable}},
		{"double slashes", "//kubepods//pod" + testUID + "//" + testID,
			Container{ID: testID, PodUID: testUID, QoS: QoSGuaranteed}},
		{"pod cgroup itself", "/kubepods/burstable/pod" + testUID, Container{}},
		{"qos cgroup", "/kubepods/burstable", Container{}},
		{"id below a container", "/kubepods/burstable/pod" + testUID + "/" + testID + "/init", Container{}},
		{"id without pod", "/kubepods/burstable/" + testID, Container{}},
		{"id under unknown qos", "/kubepods/gold/pod" + testUID + "/" + testID, Container{}},
		{"id under pod outside kubepods", "/pods/pod" + testUID + "/" + testID, Container{}},
		{"pod uid not a uuid", "/kubepods/pod" + "nginx" + "/" + testID, Container{}},
		{"pod uid upper case", "/kubepods/pod" + strings.ToUpper(testUID) + "/" + testID, Container{}},
		{"id upper case", "/kubepods/pod" + testUID + "/" + strings.ToUpper(testID), Container{}},
		{"id too short", "/kubepods/pod" + testUID + "/" + testID[1:], Container{}},
		{"id too long", "/kubepods/pod" + testUID + "/" + testID + "0", Container{}},

		// systemd driver (cgroup v2, and v1 with the systemd driver).
		{"systemd containerd burstable", burstable + "cri-containerd-" + testID + ".scope",
			Container{Runtime: RuntimeContainerd, ID: testID, PodUID: testUID, QoS: QoSBurstable}},
		{"systemd containerd besteffort",
			"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + testUIDSd + ".slice/cri-containerd-" + testID + ".scope",
			Container{Runtime: RuntimeContainerd, ID: testID, PodUID: testUID, QoS: QoSBestEffort}},
		{"systemd containerd guaranteed", guaranteed + "cri-containerd-" + testID + ".scope",
			Container{Runtime: RuntimeContainerd, ID: testID, PodUID: testUID, QoS: QoSGuaranteed}},
		{"systemd cri-o", burstable + "crio-" + testID + ".scope",
			Container{Runtime: RuntimeCRIO, ID: testID, PodUID: testUID, QoS: QoSBurstable}},
		{"systemd cri-o conmon", burstable + "crio-conmon-" + testID + ".scope", Container{}},
		{"systemd docker", guaranteed + "docker-" + testID + ".scope",
			Container{Runtime: RuntimeDocker, ID: testID, PodUID: testUID, QoS: QoSGuaranteed}},
		{"systemd static pod uid",
			"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + staticUID + ".slice/cri-containerd-" + testID + ".scope",
			Container{Runtime: RuntimeContainerd, ID: testID, PodUID: staticUID, QoS: QoSBurstable}},
		{"systemd kind node",
			"/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-burstable.slice/kubelet-kubepods-burstable-pod" + testUIDSd + ".slice/cri-containerd-" + testID + ".scope",
			Container{Runtime: RuntimeContainerd, ID: testID, PodUID: testUID, QoS: QoSBurstable}},
		{"v2 hybrid mount prefix", "/sys/fs/cgroup/unified" + burstable + "cri-containerd-" + testID + ".scope",
			Container{Runtime: RuntimeContainerd, ID: testID, PodUID: testUID, QoS: QoSBurstable}},
		{"v2 mount prefix", "/sys/fs/cgroup" + guaranteed + "crio-" + testID + ".scope/",
			Container{Runtime: RuntimeCRIO, ID: testID, PodUID: testUID, QoS: QoSGuaranteed}},
		{"systemd scope with dashed pod uid",
			"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + testUID + ".slice/cri-containerd-" + testID + ".scope",
			Container{Runtime: RuntimeContainerd, ID: testID}},
		{"systemd pod slice", burstable, Container{}},
		{"systemd qos slice", "/kubepods.slice/kubepods-burstable.slice", Container{}},
		{"systemd scope below a container", burstable + "cri-containerd-" + testID + ".scope/init", Container{}},
		{"containerd mount unit",
			"/system.slice/run-containerd-io.containerd.runtime.v2.task-k8s.io-" + testID + "-rootfs.mount", Container{}},
		{"docker mount unit", "/system.slice/var-lib-docker-overlay2-" + testID + "-merged.mount", Container{}},
		{"scope with short id", burstable + "cri-containerd-" + testID[:12] + ".scope", Container{}},
		{"scope of unknown runtime", burstable + "libpod-" + testID + ".scope", Container{}},
		{"bare id scope", "/system.slice/" + testID + ".scope", Container{}},

		// Docker and containerd outside Kubernetes.
		{"docker cgroupfs", "/docker/" + testID,
			Container{Runtime: RuntimeDocker, ID: testID}},
		{"docker cgroupfs v1 prefix", "/sys/fs/cgroup/memory/docker/" + testID,
			Container{Runtime: RuntimeDocker, ID: testID}},
		{"docker in docker", "/docker/" + strings.Repeat("f", 64) + "/docker/" + testID,
			Container{Runtime: RuntimeDocker, ID: testID}},
		{"docker systemd", "/system.slice/docker-" + testID + ".scope",
			Container{Runtime: RuntimeDocker, ID: testID}},
		{"containerd default namespace", "/default/" + testID,
			Container{Runtime: RuntimeContainerd, ID: testID}},
		{"containerd default namespace v1 prefix", "/sys/fs/cgroup/pids/default/" + testID,
			Container{Runtime: RuntimeContainerd, ID: testID}},
		{"id under nested default", "/user.slice/default/" + testID, Container{}},
		{"id under other namespace", "/k8s.io/" + testID, Container{}},
		{"bare id", "/" + testID, Container{}},
		{"id under user slice", "/user.slice/" + testID, Container{}},

		// Not containers.
		{"root", "/", Container{}},
		{"empty", "", Container{}},
		{"v2 mount itself", "/sys/fs/cgroup/unified/", Container{}},
		{"systemd service", "/system.slice/containerd.service", Container{}},
		{"docker service", "/system.slice/docker.service", Container{}},
		{"user session", "/user.slice/user-1000.slice/session-3.scope", Container{}},
		{"user manager", "/user.slice/user-1000.slice/user@1000.service/app.slice/foo.service", Container{}},
		{"init scope", "/init.scope", Container{}},
		{"relative garbage", "kubepods/../" + testID, Container{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := ParsePath(tc.path)
			if wantOK := tc.want != (Container{}); ok != wantOK {
				t.Fatalf("ParsePath(%q) ok = %v, want %v (got %+v)", tc.path, ok, wantOK, got)
			}
			if got != tc.want {
				t.Errorf("ParsePath(%q) = %+v, want %+v", tc.path, got, tc.want)
			}
		})
	}
}

func FuzzParsePath(f *testing.F) {
	for _, p := range []string{
		"/",
		"/kubepods/burstable/pod" + testUID + "/" + testID,
		"/kubepods/pod" + staticUID + "/crio-" + testID,
		burstable + "cri-containerd-" + testID + ".scope",
		guaranteed + "crio-conmon-" + testID + ".scope",
		"/sys/fs/cgroup/cpu,cpuacct/docker/" + testID,
		"/default/" + testID,
		"/system.slice/docker-" + testID + ".scope",
	} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		c, ok := ParsePath(p)
		if again, okAgain := ParsePath(p + "/"); again != c || okAgain != ok {
			t.Errorf("ParsePath(%q) = %+v, %v but with a trailing slash %+v, %v", p, c, ok, again, okAgain)
		}
		if !ok {
			if c != (Container{}) {
				t.Errorf("ParsePath(%q) = %+v, false: want a zero Container", p, c)
			}
			return
		}
		if !isContainerID(c.ID) || !strings.Contains(p, c.ID) {
			t.Errorf("ParsePath(%q) ID = %q: want 64 lowercase hex digits from the path", p, c.ID)
		}
		switch c.Runtime {
		case "", RuntimeContainerd, RuntimeCRIO, RuntimeDocker:
		default:
			t.Errorf("ParsePath(%q) Runtime = %q", p, c.Runtime)
		}
		switch c.QoS {
		case "", QoSGuaranteed, QoSBurstable, QoSBestEffort:
		default:
			t.Errorf("ParsePath(%q) QoS = %q", p, c.QoS)
		}
		if (c.PodUID == "") != (c.QoS == "") {
			t.Errorf("ParsePath(%q) PodUID = %q, QoS = %q: want both or neither", p, c.PodUID, c.QoS)
		}
		if _, valid := podUID(c.PodUID); c.PodUID != "" && (!valid || strings.Contains(c.PodUID, "_")) {
			t.Errorf("ParsePath(%q) PodUID = %q: not canonical", p, c.PodUID)
		}
	})
}

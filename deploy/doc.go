// Package deploy holds the tests of bpfleet's Helm chart (helm/bpfleet) and
// of the plain manifests generated from it (manifests/).
package deploy

// Command kube-controller-manager is the upstream Kubernetes controller manager,
// built from the same k8s.io/kubernetes module as kube-apiserver.
package main

import (
	"os"
	_ "time/tzdata" // CronJob .spec.timeZone needs the zone database in the binary

	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-controller-manager/app"
)

func main() {
	os.Exit(cli.Run(app.NewControllerManagerCommand()))
}

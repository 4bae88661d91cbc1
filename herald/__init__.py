"""Herald: a Kubernetes-native operator for SMS campaigns over SMPP 3.4."""

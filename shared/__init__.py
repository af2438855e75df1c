"""ClusterXchange shared library: event contracts, messaging runtime, service plumbing."""

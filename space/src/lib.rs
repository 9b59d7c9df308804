//! An embedded Kubernetes-API-compatible server (a "space"): discovery, CRUD, list/watch, CRDs,
//! patches, subresources, lifecycle controllers, on a durable embedded store.

//! The manifests of the acceptance checks (spec/space-server.md section (e)).

/// A Deployment `web` (1 replica, nginx:1.27).
pub const DEPLOY: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
        ports:
        - containerPort: 80
"#;

/// `DEPLOY` with 3 replicas and nginx:1.28.
pub fn deploy2() -> String {
    DEPLOY
        .replace("replicas: 1", "replicas: 3")
        .replace("nginx:1.27", "nginx:1.28")
}

/// `DEPLOY` with 7 replicas (a field another manager will own).
pub fn deploy_conflict() -> String {
    DEPLOY.replace("replicas: 1", "replicas: 7")
}

/// A ConfigMap with the unknown top-level field `dataz`.
pub const BAD_CM: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: bad
dataz:
  a: b
"#;

/// A Pod `p1`.
pub const POD: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: p1
spec:
  containers:
  - name: c
    image: busybox
"#;

/// The CRD `widgets.example.com` (short name `wd`, printer column `SIZE`, status and scale
/// subresources, a default and a minimum in its schema).
pub const CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names:
    plural: widgets
    singular: widget
    kind: Widget
    shortNames: ["wd"]
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale:
        specReplicasPath: .spec.size
        statusReplicasPath: .status.size
    additionalPrinterColumns:
    - name: Size
      type: integer
      jsonPath: .spec.size
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size:
                type: integer
                minimum: 0
              color:
                type: string
                default: blue
          status:
            type: object
            properties:
              size:
                type: integer
              observed:
                type: integer
"#;

/// A Widget `w1` of size 3.
pub const CR: &str = r#"apiVersion: example.com/v1
kind: Widget
metadata:
  name: w1
spec:
  size: 3
"#;

//! Serves one space in the foreground, for trying clients against it during development:
//! `cargo run -p kubestellar-space --example serve -- DATA_DIR [ADDR]`, then
//! `KUBECONFIG=DATA_DIR/kubeconfig kubectl get ns`. The product command is `kubestellar space serve`.

use std::path::PathBuf;

use kubestellar_space::SpaceConfig;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().ok_or("usage: serve DATA_DIR [ADDR]")?);
    let addr = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:0".into())
        .parse()?;
    let running = kubestellar_space::start(SpaceConfig::new("dev", &dir), addr).await?;
    println!(
        "serving at {} (kubeconfig: {})",
        running.url(),
        running.kubeconfig.display()
    );
    tokio::signal::ctrl_c().await?;
    running.stop().await;
    Ok(())
}

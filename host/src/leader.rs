//! Leader election on a `coordination.k8s.io/v1` Lease, with client-go's algorithm, so that
//! several replicas of the controller or of an agent can run and exactly one works.
//!
//! * A candidate takes the Lease when nobody holds it, or when its holder stopped renewing:
//!   `renewTime + leaseDurationSeconds < now`. Taking it from another holder increments
//!   `leaseTransitions`.
//! * Every write carries the `resourceVersion` that was read, so of two candidates racing for
//!   the same Lease one gets a 409 Conflict and stays a candidate: two never both lead.
//! * The leader renews every retry period. If no renewal succeeds within the renew deadline
//!   (counted from when the last successful renewal was sent), it has lost the Lease and must
//!   stop at once; [`run_while_leader`] drops its work and returns [`LeaderError::Lost`].
//!
//! Safety rests on renew deadline < lease duration: the old leader stops at the latest
//! `renew_deadline` after its last renewTime, a standby starts no earlier than `lease_duration`
//! after it, so replicas' clocks may disagree by up to the difference (5 s with the defaults).

use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, PostParams};
use tokio::time::Instant;

/// How long a Lease stays valid after its last renewal (client-go's default).
pub const DEFAULT_LEASE_DURATION: Duration = Duration::from_secs(15);
/// How long the leader keeps trying to renew before it gives up leading.
pub const DEFAULT_RENEW_DEADLINE: Duration = Duration::from_secs(10);
/// Time between attempts to acquire or renew.
pub const DEFAULT_RETRY_PERIOD: Duration = Duration::from_secs(2);

/// How long after the observed expiry a standby tries again (expiry is a strict `<`).
const EXPIRY_MARGIN: Duration = Duration::from_millis(20);

/// Where the Lease is and how it is held.
#[derive(Clone, Debug)]
pub struct LeaderElectionConfig {
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease.
    pub lease_name: String,
    /// `holderIdentity` written by this candidate; unique per process.
    pub identity: String,
    /// `leaseDurationSeconds` (whole seconds, at least 1).
    pub lease_duration: Duration,
    /// Renewals must succeed within this, else leadership is lost.
    pub renew_deadline: Duration,
    /// Time between attempts.
    pub retry_period: Duration,
}

impl LeaderElectionConfig {
    /// The defaults (15 s / 10 s / 2 s) and a fresh [`unique_identity`].
    pub fn new(namespace: impl Into<String>, lease_name: impl Into<String>) -> Self {
        LeaderElectionConfig {
            namespace: namespace.into(),
            lease_name: lease_name.into(),
            identity: unique_identity(),
            lease_duration: DEFAULT_LEASE_DURATION,
            renew_deadline: DEFAULT_RENEW_DEADLINE,
            retry_period: DEFAULT_RETRY_PERIOD,
        }
    }

    /// Checks the timings as client-go does: lease duration > renew deadline > retry period.
    pub fn validate(&self) -> Result<(), LeaderError> {
        let bad = |m: String| Err(LeaderError::Config(m));
        if self.lease_name.is_empty() || self.namespace.is_empty() {
            return bad("the Lease needs a name and a namespace".into());
        }
        if self.identity.is_empty() {
            return bad("the identity must not be empty".into());
        }
        if self.lease_duration < Duration::from_secs(1)
            || self.lease_duration.subsec_nanos() != 0
            || self.lease_duration.as_secs() > i32::MAX as u64
        {
            return bad(format!(
                "lease duration {:?} must be a whole number of seconds, at least 1",
                self.lease_duration
            ));
        }
        if self.renew_deadline >= self.lease_duration {
            return bad(format!(
                "renew deadline {:?} must be shorter than the lease duration {:?}",
                self.renew_deadline, self.lease_duration
            ));
        }
        if self.retry_period.is_zero() || self.retry_period >= self.renew_deadline {
            return bad(format!(
                "retry period {:?} must be positive and shorter than the renew deadline {:?}",
                self.retry_period, self.renew_deadline
            ));
        }
        Ok(())
    }
}

/// `hostname_pid_random`: unique per process even for replicas on one host or restarts that
/// reuse a pid.
pub fn unique_identity() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .map(|h| h.trim().to_string())
                .filter(|h| !h.is_empty())
        })
        .unwrap_or_else(|| "localhost".into());
    format!("{host}_{}_{:08x}", std::process::id(), random_u32())
}

/// Random enough for an identity suffix: std's per-process random hash keys, plus the time.
fn random_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish() as u32
}

/// Errors of leader election.
#[derive(Debug, thiserror::Error)]
pub enum LeaderError {
    #[error("invalid leader election settings: {0}")]
    Config(String),
    #[error("Lease {namespace}/{name}: {source}")]
    Api {
        namespace: String,
        name: String,
        source: kube::Error,
    },
    #[error(
        "lost the leadership of Lease {namespace}/{name}: {reason}; stopped working so that the new leader alone writes"
    )]
    Lost {
        namespace: String,
        name: String,
        reason: String,
    },
}

/// One candidate for one Lease.
pub struct LeaderElector {
    api: Api<Lease>,
    cfg: LeaderElectionConfig,
    /// The Lease as last read or written.
    observed: Option<Lease>,
    /// When the last successful acquire or renew started (its renewTime was stamped then).
    renewed_at: Option<Instant>,
}

fn now_micro() -> MicroTime {
    MicroTime(Timestamp::now())
}

impl LeaderElector {
    /// A candidate using `client` (the space holding the Lease).
    pub fn new(client: kube::Client, cfg: LeaderElectionConfig) -> Result<Self, LeaderError> {
        cfg.validate()?;
        Ok(LeaderElector {
            api: Api::namespaced(client, &cfg.namespace),
            cfg,
            observed: None,
            renewed_at: None,
        })
    }

    /// The settings.
    pub fn config(&self) -> &LeaderElectionConfig {
        &self.cfg
    }

    /// The holder of the Lease when last seen (None: nobody, or not read yet).
    pub fn observed_holder(&self) -> Option<&str> {
        self.observed
            .as_ref()
            .and_then(|l| l.spec.as_ref())
            .and_then(|s| s.holder_identity.as_deref())
            .filter(|h| !h.is_empty())
    }

    /// `leaseTransitions` of the Lease when last seen.
    pub fn observed_transitions(&self) -> i32 {
        self.observed
            .as_ref()
            .and_then(|l| l.spec.as_ref())
            .and_then(|s| s.lease_transitions)
            .unwrap_or(0)
    }

    fn api_err(&self) -> impl FnOnce(kube::Error) -> LeaderError + '_ {
        move |source| LeaderError::Api {
            namespace: self.cfg.namespace.clone(),
            name: self.cfg.lease_name.clone(),
            source,
        }
    }

    fn lost(&self, reason: String) -> LeaderError {
        LeaderError::Lost {
            namespace: self.cfg.namespace.clone(),
            name: self.cfg.lease_name.clone(),
            reason,
        }
    }

    /// One attempt (client-go's `tryAcquireOrRenew`): creates the Lease, renews it, or takes
    /// it over if it expired. `Ok(true)`: this candidate holds it now; `Ok(false)`: another
    /// does (or won a race for it).
    pub async fn try_acquire_or_renew(&mut self) -> Result<bool, LeaderError> {
        let started = Instant::now();
        let now = now_micro();
        let secs = self.cfg.lease_duration.as_secs() as i32;
        let Some(current) = self
            .api
            .get_opt(&self.cfg.lease_name)
            .await
            .map_err(self.api_err())?
        else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.cfg.lease_name.clone()),
                    namespace: Some(self.cfg.namespace.clone()),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.cfg.identity.clone()),
                    lease_duration_seconds: Some(secs),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    lease_transitions: Some(0),
                    ..Default::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(created) => {
                    self.observed = Some(created);
                    self.renewed_at = Some(started);
                    Ok(true)
                }
                // Another candidate created it first.
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(self.api_err()(e)),
            };
        };
        let spec = current.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().unwrap_or_default();
        let mine = holder == self.cfg.identity;
        self.observed = Some(current.clone());
        if !holder.is_empty() && !mine && !expired(&spec, &now.0, secs) {
            return Ok(false);
        }
        let mut next = current;
        next.spec = Some(LeaseSpec {
            holder_identity: Some(self.cfg.identity.clone()),
            lease_duration_seconds: Some(secs),
            acquire_time: if mine {
                spec.acquire_time.clone()
            } else {
                Some(now.clone())
            },
            renew_time: Some(now),
            lease_transitions: Some(if mine {
                spec.lease_transitions.unwrap_or(0)
            } else {
                spec.lease_transitions.unwrap_or(0).saturating_add(1)
            }),
            ..spec
        });
        // `next` carries the resourceVersion read above: a concurrent write makes this a 409.
        match self
            .api
            .replace(&self.cfg.lease_name, &PostParams::default(), &next)
            .await
        {
            Ok(written) => {
                if !mine {
                    tracing::info!(
                        lease = %self.cfg.lease_name,
                        namespace = %self.cfg.namespace,
                        identity = %self.cfg.identity,
                        previous = %holder,
                        transitions = written.spec.as_ref().and_then(|s| s.lease_transitions).unwrap_or(0),
                        "acquired the Lease"
                    );
                }
                self.observed = Some(written);
                self.renewed_at = Some(started);
                Ok(true)
            }
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(self.api_err()(e)),
        }
    }

    /// Tries every retry period until this candidate leads.
    pub async fn acquire(&mut self) {
        let mut logged_holder: Option<String> = None;
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => return,
                Ok(false) => {
                    let holder = self.observed_holder().unwrap_or_default().to_string();
                    if logged_holder.as_deref() != Some(holder.as_str()) {
                        tracing::info!(
                            lease = %self.cfg.lease_name,
                            namespace = %self.cfg.namespace,
                            identity = %self.cfg.identity,
                            holder = %holder,
                            "standing by: another replica leads; waiting for the Lease"
                        );
                        logged_holder = Some(holder);
                    }
                }
                Err(e) => tracing::warn!(
                    identity = %self.cfg.identity,
                    error = %e,
                    "cannot acquire the Lease; retrying"
                ),
            }
            // Try again just after the holder's Lease expires if that comes before the next
            // retry, so a dead leader is replaced a lease duration after its last renewal.
            let wait = match self.observed_expires_in() {
                Some(left) if left < self.cfg.retry_period => left + EXPIRY_MARGIN,
                _ => self.cfg.retry_period,
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Time until the Lease as last seen expires (None: not seen, or already expired).
    fn observed_expires_in(&self) -> Option<Duration> {
        let spec = self.observed.as_ref()?.spec.as_ref()?;
        let secs = spec
            .lease_duration_seconds
            .unwrap_or(self.cfg.lease_duration.as_secs() as i32);
        let until = spec
            .renew_time
            .as_ref()?
            .0
            .checked_add(SignedDuration::from_secs(i64::from(secs)))
            .ok()?;
        Duration::try_from(until.duration_since(Timestamp::now())).ok()
    }

    /// While leading: renews every retry period; returns the reason once leadership is lost
    /// (another holder seen, or no renewal succeeded within the renew deadline).
    pub async fn renew_until_lost(&mut self) -> LeaderError {
        // The deadline counts from when the last successful renewal started: its renewTime
        // was stamped then, and standbys count the lease duration from that.
        loop {
            tokio::time::sleep(self.cfg.retry_period).await;
            let deadline = self.renewed_at.unwrap_or_else(Instant::now) + self.cfg.renew_deadline;
            loop {
                if Instant::now() >= deadline {
                    return self.lost(format!(
                        "not renewed within the renew deadline of {:?}",
                        self.cfg.renew_deadline
                    ));
                }
                match tokio::time::timeout_at(deadline, self.try_acquire_or_renew()).await {
                    Ok(Ok(true)) => break,
                    Ok(Ok(false)) => {
                        let holder = self.observed_holder().unwrap_or_default().to_string();
                        if holder != self.cfg.identity {
                            return self.lost(format!("the Lease is held by {holder:?}"));
                        }
                        // Still ours but the write raced another (409): read and try again.
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(identity = %self.cfg.identity, error = %e, "renewing the Lease failed; retrying");
                        let wait = self
                            .cfg
                            .retry_period
                            .min(deadline.saturating_duration_since(Instant::now()));
                        tokio::time::sleep(wait).await;
                    }
                    Err(_) => {}
                }
            }
        }
    }

    /// Gives the Lease up if this candidate holds it (holder cleared, duration 1 s, as
    /// client-go's ReleaseOnCancel), so a standby takes over without waiting for expiry.
    pub async fn release(&mut self) -> Result<(), LeaderError> {
        let Some(current) = self
            .api
            .get_opt(&self.cfg.lease_name)
            .await
            .map_err(self.api_err())?
        else {
            return Ok(());
        };
        let spec = current.spec.clone().unwrap_or_default();
        if spec.holder_identity.as_deref() != Some(self.cfg.identity.as_str()) {
            return Ok(());
        }
        let mut next = current;
        next.spec = Some(LeaseSpec {
            holder_identity: None,
            lease_duration_seconds: Some(1),
            renew_time: Some(now_micro()),
            ..spec
        });
        match self
            .api
            .replace(&self.cfg.lease_name, &PostParams::default(), &next)
            .await
        {
            Ok(written) => {
                self.observed = Some(written);
                Ok(())
            }
            // Someone else wrote it meanwhile: it is not ours to release any more.
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
            Err(e) => Err(self.api_err()(e)),
        }
    }
}

/// Whether a Lease's holder stopped renewing: `renewTime + leaseDurationSeconds < now`.
fn expired(spec: &LeaseSpec, now: &Timestamp, default_secs: i32) -> bool {
    let Some(renewed) = &spec.renew_time else {
        return true;
    };
    let secs = spec.lease_duration_seconds.unwrap_or(default_secs);
    match renewed
        .0
        .checked_add(SignedDuration::from_secs(i64::from(secs)))
    {
        Ok(until) => until < *now,
        Err(_) => false,
    }
}

/// Runs `work` only while this process leads the Lease in `client`'s space.
///
/// Waits (logging that it stands by) until the Lease is acquired, then starts `work`, giving
/// it a future that resolves when it should stop. On `shutdown` the work is stopped, awaited,
/// and the Lease released. Returns `Ok(None)` if `shutdown` came before leadership, else the
/// work's output. If leadership is lost the work is dropped at once (its spawned tasks must be
/// owned by it, e.g. in a `JoinSet`) and [`LeaderError::Lost`] is returned: the caller should
/// exit, as client-go's users do.
pub async fn run_while_leader<W, Fut, T>(
    client: kube::Client,
    cfg: LeaderElectionConfig,
    shutdown: impl Future<Output = ()>,
    work: W,
) -> Result<Option<T>, LeaderError>
where
    W: FnOnce(futures::future::BoxFuture<'static, ()>) -> Fut,
    Fut: Future<Output = T>,
{
    let mut elector = LeaderElector::new(client, cfg)?;
    tokio::pin!(shutdown);
    tracing::info!(
        lease = %elector.cfg.lease_name,
        namespace = %elector.cfg.namespace,
        identity = %elector.cfg.identity,
        "leader election: trying to acquire the Lease"
    );
    tokio::select! {
        _ = elector.acquire() => {}
        _ = &mut shutdown => {
            // The last attempt may have won the Lease just as shutdown came: give it back.
            if let Err(e) = elector.release().await {
                tracing::warn!(identity = %elector.cfg.identity, error = %e, "cannot release the Lease; it expires by itself");
            }
            return Ok(None);
        }
    }
    tracing::info!(
        lease = %elector.cfg.lease_name,
        namespace = %elector.cfg.namespace,
        identity = %elector.cfg.identity,
        "became the leader; starting work"
    );
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let work = work(Box::pin(async {
        let _ = stop_rx.await;
    }));
    tokio::pin!(work);
    enum Outcome<T> {
        Lost(LeaderError),
        Shutdown,
        Done(T),
    }
    let outcome = tokio::select! {
        lost = elector.renew_until_lost() => Outcome::Lost(lost),
        _ = &mut shutdown => Outcome::Shutdown,
        out = &mut work => {
            tracing::info!(identity = %elector.cfg.identity, "work ended while leading");
            Outcome::Done(out)
        }
    };
    let out = match outcome {
        Outcome::Done(out) => out,
        Outcome::Lost(lost) => return Err(stop_lost(&elector, lost)),
        Outcome::Shutdown => {
            let _ = stop_tx.send(());
            // Keep renewing while the work winds down, so nobody takes over mid-shutdown.
            tokio::select! {
                out = &mut work => out,
                lost = elector.renew_until_lost() => return Err(stop_lost(&elector, lost)),
            }
        }
    };
    if let Err(e) = elector.release().await {
        tracing::warn!(identity = %elector.cfg.identity, error = %e, "cannot release the Lease; it expires by itself");
    } else {
        tracing::info!(identity = %elector.cfg.identity, "released the Lease");
    }
    Ok(Some(out))
}

/// Logs the loss; the caller drops the work future, which cancels it and whatever it owns.
fn stop_lost(elector: &LeaderElector, lost: LeaderError) -> LeaderError {
    tracing::error!(
        lease = %elector.cfg.lease_name,
        namespace = %elector.cfg.namespace,
        identity = %elector.cfg.identity,
        error = %lost,
        "leadership lost; stopping work now"
    );
    lost
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(renewed_secs_ago: i64, duration: i32) -> LeaseSpec {
        let renewed = Timestamp::now()
            .checked_sub(SignedDuration::from_secs(renewed_secs_ago))
            .unwrap_or(Timestamp::UNIX_EPOCH);
        LeaseSpec {
            holder_identity: Some("other".into()),
            lease_duration_seconds: Some(duration),
            renew_time: Some(MicroTime(renewed)),
            ..Default::default()
        }
    }

    #[test]
    fn leader_lease_expires_only_after_its_duration() {
        let now = Timestamp::now();
        assert!(!expired(&spec(5, 15), &now, 15));
        assert!(expired(&spec(16, 15), &now, 15));
        // A released Lease (duration 1 s) is free almost at once.
        assert!(expired(&spec(2, 1), &now, 15));
        // Never renewed: free.
        assert!(expired(&LeaseSpec::default(), &now, 15));
    }

    #[test]
    fn leader_config_rejects_unsafe_timings() {
        let ok = LeaderElectionConfig::new("ns", "l");
        assert!(ok.validate().is_ok());
        let mut c = ok.clone();
        c.renew_deadline = c.lease_duration;
        assert!(matches!(c.validate(), Err(LeaderError::Config(_))));
        let mut c = ok.clone();
        c.retry_period = c.renew_deadline;
        assert!(matches!(c.validate(), Err(LeaderError::Config(_))));
        let mut c = ok.clone();
        c.lease_duration = Duration::from_millis(1500);
        assert!(matches!(c.validate(), Err(LeaderError::Config(_))));
        let mut c = ok;
        c.identity.clear();
        assert!(matches!(c.validate(), Err(LeaderError::Config(_))));
    }

    #[test]
    fn leader_identities_are_unique_per_call() {
        let a = unique_identity();
        let b = unique_identity();
        assert_ne!(a, b);
        assert!(a.contains(&format!("_{}_", std::process::id())));
    }
}

//! Client quotas, as Kafka's `ClientQuotaManager` (one instance per quota
//! type, put together as `QuotaFactory` does): windowed rates per quota
//! entity, a throttle time for a client over its quota, and the quota
//! configs themselves, persisted in the data directory's
//! [`QUOTAS_FILE`].
//!
//! **Entities and precedence** (Kafka's documented order, KIP-55): for each
//! quota type separately, the first of these that sets that type applies:
//!
//! | # | entity                                    |
//! |---|-------------------------------------------|
//! | 1 | `/config/users/<user>/clients/<client-id>`|
//! | 2 | `/config/users/<user>/clients/<default>`  |
//! | 3 | `/config/users/<user>`                    |
//! | 4 | `/config/users/<default>/clients/<client-id>` |
//! | 5 | `/config/users/<default>/clients/<default>`   |
//! | 6 | `/config/users/<default>`                 |
//! | 7 | `/config/clients/<client-id>`             |
//! | 8 | `/config/clients/<default>`               |
//!
//! The rate is kept per *metric tags* as Kafka's `DefaultQuotaCallback`
//! sets them: the user tag is the request's user when the matched entity
//! has a user component (named or default), else empty; likewise the
//! client-id tag. So a quota on `/config/users/alice` is shared by all of
//! alice's clients, and one on `/config/clients/<default>` applies to each
//! client id separately.
//!
//! **Rates** are Kafka's `Rate` over a `SampledStat` (`quota.window.num`
//! samples of `quota.window.size.seconds` each): the sum of the live
//! samples divided by the window, where the window counts at least
//! `quota.window.num - 1` full sample windows (so a fresh client is not
//! measured over a few milliseconds). A value is recorded first, then the
//! rate checked; over the bound the throttle time is Kafka's
//! `(rate - bound) / bound * window` milliseconds.
//!
//! **Throttling** (KIP-219): the handler never sleeps. The response goes
//! out at once with `throttle_time_ms`, and the connection
//! ([`ChannelThrottle`], read by `connection.rs`) takes no further request
//! from the client until the throttle time has passed.
//!
//! **Cost with no quota**: each quota type keeps an "any configured" flag;
//! with none, recording returns 0 after one relaxed atomic load.
//!
//! **File** `client-quotas.json`: `{"version":1,"quotas":[{"entity":
//! [{"type":"user","name":"alice"},{"type":"client-id","name":null}],
//! "values":{"producer_byte_rate":1048576.0}}]}` (a `null` name is the
//! `<default>` entity), written to a `.tmp`, fsynced, renamed over the old
//! one and the directory fsynced, so a kill -9 leaves the old or the new
//! set, never a torn one.

use crate::log::LogError;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

/// Name of the quota file in the data directory.
pub const QUOTAS_FILE: &str = "client-quotas.json";
/// The user of unauthenticated connections (Kafka's `KafkaPrincipal.ANONYMOUS`).
pub const ANONYMOUS: &str = "ANONYMOUS";
/// Entity type `user` (Kafka's `ClientQuotaEntity.USER`).
pub const USER: &str = "user";
/// Entity type `client-id` (Kafka's `ClientQuotaEntity.CLIENT_ID`).
pub const CLIENT_ID: &str = "client-id";
/// Entity type `ip` (Kafka's `ClientQuotaEntity.IP`).
pub const IP: &str = "ip";

/// `quota.window.num`'s default.
pub const DEFAULT_WINDOW_NUM: u32 = 11;
/// `quota.window.size.seconds`'s default.
pub const DEFAULT_WINDOW_SIZE_SECONDS: u32 = 1;

/// The quota types (Kafka's `QuotaType` / `QuotaConfig` keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum QuotaType {
    /// `producer_byte_rate`: produce request bytes per second.
    Produce,
    /// `consumer_byte_rate`: fetch response bytes per second.
    Fetch,
    /// `request_percentage`: percent of one request thread's time.
    Request,
    /// `controller_mutation_rate`: partitions created or deleted per second.
    ControllerMutation,
}

impl QuotaType {
    /// Every client quota type.
    pub const ALL: [QuotaType; 4] = [
        QuotaType::Produce,
        QuotaType::Fetch,
        QuotaType::Request,
        QuotaType::ControllerMutation,
    ];

    /// The config key (Kafka's `QuotaConfig` names).
    pub fn key(self) -> &'static str {
        match self {
            QuotaType::Produce => "producer_byte_rate",
            QuotaType::Fetch => "consumer_byte_rate",
            QuotaType::Request => "request_percentage",
            QuotaType::ControllerMutation => "controller_mutation_rate",
        }
    }

    /// The type of a config key.
    pub fn from_key(key: &str) -> Option<QuotaType> {
        QuotaType::ALL.into_iter().find(|t| t.key() == key)
    }

    /// Whether the value must be integral (Kafka's LONG configs).
    pub fn is_long(self) -> bool {
        matches!(self, QuotaType::Produce | QuotaType::Fetch)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// `connection_creation_rate`, the one config of `ip` entities (accepted,
/// stored and described; not enforced yet).
pub const CONNECTION_CREATION_RATE: &str = "connection_creation_rate";

/// One component of a quota entity: a named entity or the `<default>` one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct EntityComponent {
    /// `user`, `client-id` or `ip`.
    #[serde(rename = "type")]
    pub entity_type: String,
    /// The name; `None` is the `<default>` entity.
    pub name: Option<String>,
}

/// A quota entity (Kafka's `ClientQuotaEntity`): its components, sorted
/// by type, each type at most once.
pub type QuotaEntity = Vec<EntityComponent>;

/// An entity from `(type, name)` pairs, sorted by type.
pub fn entity(components: &[(&str, Option<&str>)]) -> QuotaEntity {
    let mut e: QuotaEntity = components
        .iter()
        .map(|(t, n)| EntityComponent {
            entity_type: t.to_string(),
            name: n.map(str::to_string),
        })
        .collect();
    e.sort();
    e
}

/// Kafka's text for an entity, e.g. `user=alice, client-id=<default>`.
pub fn entity_text(e: &QuotaEntity) -> String {
    e.iter()
        .map(|c| {
            format!(
                "{}={}",
                c.entity_type,
                c.name.as_deref().unwrap_or("<default>")
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct QuotaFile {
    version: u32,
    quotas: Vec<QuotaFileEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
struct QuotaFileEntry {
    entity: QuotaEntity,
    values: BTreeMap<String, f64>,
}

/// The quota windows (`quota.window.num`, `quota.window.size.seconds`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaWindow {
    /// Number of samples kept.
    pub samples: u32,
    /// Length of one sample, in milliseconds.
    pub size_ms: u64,
}

impl Default for QuotaWindow {
    fn default() -> Self {
        QuotaWindow {
            samples: DEFAULT_WINDOW_NUM,
            size_ms: u64::from(DEFAULT_WINDOW_SIZE_SECONDS) * 1000,
        }
    }
}

/// One sample of a [`Rate`] (Kafka's `SampledStat.Sample`).
#[derive(Debug, Clone, Copy)]
struct Sample {
    value: f64,
    last_window_ms: u64,
}

/// Kafka's `Rate` over a `WindowedSum`: samples of a fixed length, the
/// oldest reused once `samples` exist.
#[derive(Debug, Clone, Default)]
pub struct Rate {
    samples: Vec<Sample>,
    current: usize,
}

impl Rate {
    /// Adds `value` at `now_ms` (Kafka's `SampledStat.record`).
    pub fn record(&mut self, value: f64, now_ms: u64, w: QuotaWindow) {
        if self.samples.is_empty() {
            self.samples.push(Sample {
                value: 0.0,
                last_window_ms: now_ms,
            });
            self.current = 0;
        }
        let complete =
            now_ms.saturating_sub(self.samples[self.current].last_window_ms) >= w.size_ms;
        if complete {
            self.current = (self.current + 1) % w.samples as usize;
            let fresh = Sample {
                value: 0.0,
                last_window_ms: now_ms,
            };
            if self.current >= self.samples.len() {
                self.samples.push(fresh);
            } else {
                self.samples[self.current] = fresh;
            }
        }
        self.samples[self.current].value += value;
    }

    fn purge_obsolete(&mut self, now_ms: u64, w: QuotaWindow) {
        let expire_age = u64::from(w.samples) * w.size_ms;
        for s in &mut self.samples {
            if now_ms.saturating_sub(s.last_window_ms) >= expire_age {
                *s = Sample {
                    value: 0.0,
                    last_window_ms: now_ms,
                };
            }
        }
    }

    /// The window the rate is measured over, in milliseconds (Kafka's
    /// `Rate.windowSize`): from the oldest sample to now, at least
    /// `samples - 1` full windows, at least 1 ms.
    pub fn window_size_ms(&mut self, now_ms: u64, w: QuotaWindow) -> u64 {
        self.purge_obsolete(now_ms, w);
        let oldest = self
            .samples
            .iter()
            .map(|s| s.last_window_ms)
            .min()
            .unwrap_or(now_ms);
        let mut elapsed = now_ms.saturating_sub(oldest);
        let full = elapsed / w.size_ms;
        let min_full = u64::from(w.samples.saturating_sub(1));
        if full < min_full {
            elapsed += (min_full - full) * w.size_ms;
        }
        elapsed.max(1)
    }

    /// Whether every sample has left the window (nothing recorded for
    /// `samples` windows).
    pub fn is_idle(&self, now_ms: u64, w: QuotaWindow) -> bool {
        let expire_age = u64::from(w.samples) * w.size_ms;
        self.samples
            .iter()
            .all(|s| now_ms.saturating_sub(s.last_window_ms) >= expire_age)
    }

    /// The rate per second at `now_ms` (Kafka's `Rate.measure`).
    pub fn measure(&mut self, now_ms: u64, w: QuotaWindow) -> f64 {
        self.purge_obsolete(now_ms, w);
        let sum: f64 = self.samples.iter().map(|s| s.value).sum();
        sum / (self.window_size_ms(now_ms, w) as f64 / 1000.0)
    }
}

/// Kafka's `QuotaUtils.throttleTime`: how long a client whose rate is
/// `rate` must wait for it to come back to `bound` over `window_ms`.
pub fn throttle_time_ms(rate: f64, bound: f64, window_ms: u64) -> i32 {
    if rate <= bound || bound <= 0.0 {
        return 0;
    }
    let ms = (rate - bound) / bound * window_ms as f64;
    ms.round().min(i32::MAX as f64) as i32
}

/// Rates kept per quota type before idle ones are dropped.
const MAX_IDLE_SENSORS: usize = 1024;

/// The metric tags a rate is kept under: (user tag, client-id tag).
type Tags = (String, String);

/// One quota type's rates (Kafka's `ClientQuotaManager`).
#[derive(Debug, Default)]
struct ClientQuotaManager {
    /// Whether any entity sets this type (the hot path's only check).
    enabled: AtomicBool,
    /// Rates by metric tags, and the count at which idle ones are next
    /// swept; held only while one value is recorded.
    sensors: Mutex<Sensors>,
}

/// The rates of one quota type.
#[derive(Debug, Default)]
struct Sensors {
    rates: HashMap<Tags, Rate>,
    /// Sweep idle rates when a new one would make this many (at least
    /// [`MAX_IDLE_SENSORS`], twice what the last sweep left): the sweep's
    /// cost is spread over the insertions between sweeps.
    sweep_at: usize,
}

/// The broker's client quotas: configs by entity and one rate manager per
/// quota type (Kafka's `QuotaFactory.QuotaManagers`).
#[derive(Debug)]
pub struct ClientQuotas {
    /// Where the configs are persisted (`None`: in memory, for tests).
    path: Option<PathBuf>,
    window: QuotaWindow,
    /// Quota configs by entity; read on every recorded value of an enabled
    /// type, written by AlterClientQuotas. Never held across an await.
    configs: RwLock<BTreeMap<QuotaEntity, BTreeMap<String, f64>>>,
    /// Serialises alterations (validate, persist, apply).
    alter: Mutex<()>,
    managers: [ClientQuotaManager; 4],
    /// When the broker started: the clock throttles are measured on.
    epoch: Instant,
}

impl ClientQuotas {
    /// Quotas kept in memory only.
    pub fn in_memory(window: QuotaWindow) -> ClientQuotas {
        ClientQuotas {
            path: None,
            window,
            configs: RwLock::new(BTreeMap::new()),
            alter: Mutex::new(()),
            managers: Default::default(),
            epoch: Instant::now(),
        }
    }

    /// Loads [`QUOTAS_FILE`] from `data_dir` (none: no quotas).
    ///
    /// # Errors
    /// An unreadable or malformed file.
    pub fn open(data_dir: &Path, window: QuotaWindow) -> Result<ClientQuotas, LogError> {
        let path = data_dir.join(QUOTAS_FILE);
        let mut quotas = ClientQuotas::in_memory(window);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let file: QuotaFile =
                    serde_json::from_slice(&bytes).map_err(|e| LogError::Corrupt {
                        path: path.clone(),
                        position: 0,
                        reason: format!("malformed client quota file: {e}"),
                    })?;
                let mut configs = BTreeMap::new();
                for entry in file.quotas {
                    let mut e = entry.entity;
                    e.sort();
                    if !entry.values.is_empty() {
                        configs.insert(e, entry.values);
                    }
                }
                quotas.configs = RwLock::new(configs);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(LogError::Io { path, source }),
        }
        quotas.path = Some(path);
        quotas.refresh_enabled();
        Ok(quotas)
    }

    /// The quota windows in force.
    pub fn window(&self) -> QuotaWindow {
        self.window
    }

    fn refresh_enabled(&self) {
        let configs = self.configs.read().unwrap_or_else(|p| p.into_inner());
        for t in QuotaType::ALL {
            let on = configs.values().any(|v| v.contains_key(t.key()));
            self.managers[t.index()]
                .enabled
                .store(on, Ordering::Relaxed);
        }
    }

    /// Whether any entity sets a quota of type `t`.
    #[inline]
    pub fn enabled(&self, t: QuotaType) -> bool {
        self.managers[t.index()].enabled.load(Ordering::Relaxed)
    }

    /// Whether any client quota is configured at all.
    #[inline]
    pub fn any_enabled(&self) -> bool {
        QuotaType::ALL.into_iter().any(|t| self.enabled(t))
    }

    /// Every configured entity and its quotas.
    pub fn all(&self) -> BTreeMap<QuotaEntity, BTreeMap<String, f64>> {
        self.configs
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replaces the quotas of the given entities (an empty map removes the
    /// entity), persists the whole set, then makes it effective.
    ///
    /// # Errors
    /// Writing the file failed; nothing changed then.
    pub fn apply(
        &self,
        changes: Vec<(QuotaEntity, BTreeMap<String, f64>)>,
    ) -> Result<(), LogError> {
        let _serial = self.alter.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = self.all();
        for (e, values) in changes {
            if values.is_empty() {
                next.remove(&e);
            } else {
                next.insert(e, values);
            }
        }
        if let Some(path) = &self.path {
            let file = QuotaFile {
                version: 1,
                quotas: next
                    .iter()
                    .map(|(e, v)| QuotaFileEntry {
                        entity: e.clone(),
                        values: v.clone(),
                    })
                    .collect(),
            };
            let mut text = serde_json::to_vec_pretty(&file).expect("serialisable");
            text.push(b'\n');
            crate::log::data_dir::write_atomic(path, &text)?;
        }
        *self.configs.write().unwrap_or_else(|p| p.into_inner()) = next;
        self.refresh_enabled();
        Ok(())
    }

    /// The quota of type `t` for (`user`, `client_id`) and the metric tags
    /// its rate is kept under, by Kafka's precedence (module doc).
    pub fn resolve(&self, t: QuotaType, user: &str, client_id: &str) -> Option<(f64, Tags)> {
        let configs = self.configs.read().unwrap_or_else(|p| p.into_inner());
        resolve_in(&configs, t, user, client_id)
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// Records `value` against (`user`, `client_id`)'s quota of type `t`
    /// and returns the throttle time in ms (0: within quota, or no quota).
    pub fn record(&self, t: QuotaType, user: &str, client_id: &str, value: f64) -> i32 {
        if !self.enabled(t) {
            return 0;
        }
        self.record_at(t, user, client_id, value, self.now_ms())
    }

    /// [`Self::record`] at a given time on the quota clock.
    pub fn record_at(
        &self,
        t: QuotaType,
        user: &str,
        client_id: &str,
        value: f64,
        now: u64,
    ) -> i32 {
        let Some((bound, tags)) = self.resolve(t, user, client_id) else {
            return 0;
        };
        let w = self.window;
        let mut sensors = self.managers[t.index()]
            .sensors
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let sensors = &mut *sensors;
        if sensors.rates.len() >= sensors.sweep_at.max(MAX_IDLE_SENSORS)
            && !sensors.rates.contains_key(&tags)
        {
            // Kafka expires a client's sensors after an hour of inactivity;
            // here those with nothing left in their window go once many
            // clients have been seen.
            sensors.rates.retain(|_, r| !r.is_idle(now, w));
            sensors.sweep_at = (2 * sensors.rates.len()).max(MAX_IDLE_SENSORS);
        }
        let rate = sensors.rates.entry(tags).or_default();
        rate.record(value, now, w);
        let measured = rate.measure(now, w);
        if measured > bound {
            throttle_time_ms(measured, bound, rate.window_size_ms(now, w))
        } else {
            0
        }
    }

    /// Whether (`user`, `client_id`)'s rate of type `t` is over its quota
    /// now (Kafka's `Sensor.checkQuotas` without recording).
    pub fn is_exceeded(&self, t: QuotaType, user: &str, client_id: &str) -> bool {
        self.throttle_now(t, user, client_id) > 0
    }

    /// The throttle (ms) (`user`, `client_id`)'s rate of type `t` calls
    /// for now, without recording anything.
    pub fn throttle_now(&self, t: QuotaType, user: &str, client_id: &str) -> i32 {
        if !self.enabled(t) {
            return 0;
        }
        let Some((bound, tags)) = self.resolve(t, user, client_id) else {
            return 0;
        };
        let now = self.now_ms();
        let w = self.window;
        let mut sensors = self.managers[t.index()]
            .sensors
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let Some(rate) = sensors.rates.get_mut(&tags) else {
            return 0;
        };
        let measured = rate.measure(now, w);
        throttle_time_ms(measured, bound, rate.window_size_ms(now, w))
    }

    /// Takes back a recorded value (Kafka's `unrecordQuotaSensor`, for a
    /// fetch answered empty because it is throttled).
    pub fn unrecord(&self, t: QuotaType, user: &str, client_id: &str, value: f64) {
        if !self.enabled(t) {
            return;
        }
        let Some((_, tags)) = self.resolve(t, user, client_id) else {
            return;
        };
        let now = self.now_ms();
        let w = self.window;
        let mut sensors = self.managers[t.index()]
            .sensors
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        sensors
            .rates
            .entry(tags)
            .or_default()
            .record(-value, now, w);
    }

    /// The most a fetch may return to stay within a consumer's quota
    /// (Kafka's `getMaxValueInQuotaWindow`: the quota times
    /// `quota.window.num - 1` windows); `None` without a quota.
    pub fn max_value_in_window(&self, t: QuotaType, user: &str, client_id: &str) -> Option<usize> {
        if !self.enabled(t) {
            return None;
        }
        let (bound, _) = self.resolve(t, user, client_id)?;
        let w = self.window;
        let secs = f64::from(w.samples.saturating_sub(1)) * w.size_ms as f64 / 1000.0;
        Some((bound * secs).min(usize::MAX as f64) as usize)
    }
}

/// Kafka's precedence over `configs`, for one quota type.
fn resolve_in(
    configs: &BTreeMap<QuotaEntity, BTreeMap<String, f64>>,
    t: QuotaType,
    user: &str,
    client_id: &str,
) -> Option<(f64, Tags)> {
    let key = t.key();
    let u = |n: Option<&str>| EntityComponent {
        entity_type: USER.into(),
        name: n.map(str::to_string),
    };
    let c = |n: Option<&str>| EntityComponent {
        entity_type: CLIENT_ID.into(),
        name: n.map(str::to_string),
    };
    // Components are sorted by type: "client-id" < "user".
    let order: [(QuotaEntity, bool, bool); 8] = [
        (vec![c(Some(client_id)), u(Some(user))], true, true),
        (vec![c(None), u(Some(user))], true, true),
        (vec![u(Some(user))], true, false),
        (vec![c(Some(client_id)), u(None)], true, true),
        (vec![c(None), u(None)], true, true),
        (vec![u(None)], true, false),
        (vec![c(Some(client_id))], false, true),
        (vec![c(None)], false, true),
    ];
    for (e, has_user, has_client) in order {
        if let Some(v) = configs.get(&e).and_then(|m| m.get(key)) {
            let tags = (
                if has_user {
                    user.to_string()
                } else {
                    String::new()
                },
                if has_client {
                    client_id.to_string()
                } else {
                    String::new()
                },
            );
            return Some((*v, tags));
        }
    }
    None
}

/// One connection's mute (KIP-219): until when the broker takes no more
/// requests from it. Set by the handlers (through [`RequestQuota`]), read
/// by `connection.rs` before it dispatches the next request.
#[derive(Debug)]
pub struct ChannelThrottle {
    epoch: Instant,
    /// Milliseconds after `epoch` until which the connection is muted.
    muted_until_ms: AtomicU64,
}

impl Default for ChannelThrottle {
    fn default() -> Self {
        ChannelThrottle {
            epoch: Instant::now(),
            muted_until_ms: AtomicU64::new(0),
        }
    }
}

impl ChannelThrottle {
    /// Mutes the connection for `ms` from now (a longer mute already set stays).
    pub fn throttle(&self, ms: i32) {
        if ms <= 0 {
            return;
        }
        let until = self.epoch.elapsed().as_millis() as u64 + ms as u64;
        self.muted_until_ms.fetch_max(until, Ordering::Relaxed);
    }

    /// When the mute ends, if it has not yet.
    #[inline]
    pub fn muted_until(&self) -> Option<tokio::time::Instant> {
        let until = self.muted_until_ms.load(Ordering::Relaxed);
        if until == 0 {
            return None;
        }
        let at = self.epoch + std::time::Duration::from_millis(until);
        (at > Instant::now()).then(|| at.into())
    }
}

/// What one request's handler needs to charge its client: the quotas,
/// the client's entity and its connection's mute.
#[derive(Debug, Clone)]
pub struct RequestQuota {
    /// The broker's quotas.
    pub quotas: Arc<ClientQuotas>,
    /// The connection the request came on.
    pub channel: Arc<ChannelThrottle>,
    /// The authenticated principal's name ([`ANONYMOUS`] until
    /// authentication exists).
    pub user: String,
    /// `client.id` from the request header.
    pub client_id: String,
}

impl RequestQuota {
    /// Records `value` of type `t` (no mute yet).
    pub fn record(&self, t: QuotaType, value: f64) -> i32 {
        self.quotas.record(t, &self.user, &self.client_id, value)
    }

    /// Records the request handler time `elapsed` against the request
    /// quota (Kafka's `ClientRequestQuotaManager`: nanoseconds as a
    /// percentage of one second).
    pub fn record_request_time(&self, elapsed: std::time::Duration) -> i32 {
        if !self.quotas.enabled(QuotaType::Request) {
            return 0;
        }
        let percent = elapsed.as_nanos() as f64 * 100.0 / 1e9;
        // Kafka bounds the request throttle at one sample window
        // (`QuotaUtils.boundedThrottleTime`).
        let bound = i32::try_from(self.quotas.window().size_ms).unwrap_or(i32::MAX);
        self.record(QuotaType::Request, percent).min(bound)
    }

    /// Mutes the connection for `ms` and returns it (for the response).
    pub fn throttle(&self, ms: i32) -> i32 {
        self.channel.throttle(ms);
        ms.max(0)
    }

    /// Whether request time is being measured at all.
    #[inline]
    pub fn times_requests(&self) -> bool {
        self.quotas.enabled(QuotaType::Request)
    }
}

/// The throttle time of a response still being completed (a produce
/// waiting for its sync): set at dispatch, read when the response is
/// encoded. `None` when no quota is configured.
pub type ThrottleSlot = Option<Arc<std::sync::atomic::AtomicI32>>;

/// Reads a [`ThrottleSlot`] (0 without one).
pub fn slot_value(slot: &ThrottleSlot) -> i32 {
    slot.as_ref().map_or(0, |s| s.load(Ordering::Relaxed))
}

/// A future with the time spent inside its `poll` calls: the request
/// handler time Kafka's request quota charges, without the time spent
/// waiting (for an fsync, a long poll).
pub struct Timed<F: std::future::Future> {
    inner: std::pin::Pin<Box<F>>,
    spent: std::time::Duration,
}

impl<F: std::future::Future> Timed<F> {
    /// Times `inner`.
    pub fn new(inner: F) -> Self {
        Timed {
            inner: Box::pin(inner),
            spent: std::time::Duration::ZERO,
        }
    }
}

impl<F: std::future::Future> std::future::Future for Timed<F> {
    type Output = (F::Output, std::time::Duration);

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let started = Instant::now();
        let polled = self.inner.as_mut().poll(cx);
        self.spent += started.elapsed();
        match polled {
            std::task::Poll::Ready(v) => std::task::Poll::Ready((v, self.spent)),
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(samples: u32, size_ms: u64) -> QuotaWindow {
        QuotaWindow { samples, size_ms }
    }

    #[test]
    fn rate_counts_at_least_samples_minus_one_full_windows() {
        // Kafka's Rate: a fresh sensor divides by (samples - 1) windows.
        let mut r = Rate::default();
        let cfg = w(11, 1000);
        r.record(1000.0, 0, cfg);
        assert_eq!(r.window_size_ms(0, cfg), 10_000);
        assert!((r.measure(0, cfg) - 100.0).abs() < 1e-9);
        // 5.5 s later: 5 full windows elapsed, 5 more added = 10.5 s.
        assert_eq!(r.window_size_ms(5500, cfg), 10_500);
        r.record(1000.0, 5500, cfg);
        assert!((r.measure(5500, cfg) - 2000.0 / 10.5).abs() < 1e-9);
        // After 15 s of the window: elapsed counts as it is.
        for t in (6000..=15_000).step_by(1000) {
            r.record(0.0, t, cfg);
        }
        // Samples older than 11 windows are reset at purge.
        let m = r.measure(15_000, cfg);
        assert!(m.is_finite());
        // Every sample older than samples * size expired: rate 0.
        assert_eq!(r.measure(100_000, cfg), 0.0);
    }

    #[test]
    fn rate_reuses_the_oldest_sample_once_all_exist() {
        let cfg = w(3, 1000);
        let mut r = Rate::default();
        for t in 0..10u64 {
            r.record(100.0, t * 1000, cfg);
        }
        assert_eq!(r.samples.len(), 3);
        // Samples at 7 s, 8 s, 9 s with 100 each; window 9000 - 7000 = 2 s
        // (2 full windows = samples - 1): 300 / 2 = 150 per second.
        assert_eq!(r.window_size_ms(9000, cfg), 2000);
        assert!((r.measure(9000, cfg) - 150.0).abs() < 1e-9);
    }

    #[test]
    fn idle_rates_are_dropped_once_many_clients_were_seen() {
        let q = ClientQuotas::in_memory(w(2, 1000));
        q.apply(vec![(
            entity(&[(CLIENT_ID, None)]),
            [("producer_byte_rate".to_string(), 1e9)].into(),
        )])
        .unwrap();
        for i in 0..MAX_IDLE_SENSORS {
            q.record_at(QuotaType::Produce, ANONYMOUS, &format!("c{i}"), 1.0, 0);
        }
        let count = |q: &ClientQuotas| q.managers[0].sensors.lock().unwrap().rates.len();
        assert_eq!(count(&q), MAX_IDLE_SENSORS);
        // 2 s later every one of them is idle: a new client clears them.
        q.record_at(QuotaType::Produce, ANONYMOUS, "new", 1.0, 2000);
        assert_eq!(count(&q), 1);
    }

    #[test]
    fn throttle_time_is_kafkas_formula() {
        // QuotaUtilsTest: observed == bound gives 0; 2x the bound over a
        // 1 s window gives 1 s.
        assert_eq!(throttle_time_ms(16.5, 16.5, 1000), 0);
        assert_eq!(throttle_time_ms(20.0, 10.0, 1000), 1000);
        assert_eq!(throttle_time_ms(15.0, 10.0, 10_000), 5000);
        // A client at 1.1x its quota over 11 windows waits 10 % of them.
        assert_eq!(throttle_time_ms(1.1e6, 1e6, 11_000), 1100);
    }

    #[test]
    fn recording_over_the_quota_throttles_until_the_rate_is_back() {
        let q = ClientQuotas::in_memory(w(11, 1000));
        q.apply(vec![(
            entity(&[(CLIENT_ID, Some("p"))]),
            [("producer_byte_rate".to_string(), 1000.0)].into(),
        )])
        .unwrap();
        // 10 s window from the start: 10 000 bytes are within quota.
        assert_eq!(
            q.record_at(QuotaType::Produce, ANONYMOUS, "p", 10_000.0, 0),
            0
        );
        // 10 000 more: rate 2000/s over 10 s, throttled 10 s.
        let t = q.record_at(QuotaType::Produce, ANONYMOUS, "p", 10_000.0, 0);
        assert_eq!(t, 10_000);
        // Another client id is not affected.
        assert_eq!(
            q.record_at(QuotaType::Produce, ANONYMOUS, "other", 1e9, 0),
            0
        );
        // The fetch quota is separate.
        assert!(!q.enabled(QuotaType::Fetch));
        assert_eq!(q.record_at(QuotaType::Fetch, ANONYMOUS, "p", 1e9, 0), 0);
    }

    /// Kafka's documented precedence, checked over every combination of
    /// the eight entities being set or not: the quota found is always the
    /// highest-ranked one set, with the tags Kafka gives it.
    #[test]
    fn precedence_over_all_entity_combinations_follows_kafkas_order() {
        let ranked: [(QuotaEntity, (&str, &str)); 8] = [
            (
                entity(&[(USER, Some("u")), (CLIENT_ID, Some("c"))]),
                ("u", "c"),
            ),
            (entity(&[(USER, Some("u")), (CLIENT_ID, None)]), ("u", "c")),
            (entity(&[(USER, Some("u"))]), ("u", "")),
            (entity(&[(USER, None), (CLIENT_ID, Some("c"))]), ("u", "c")),
            (entity(&[(USER, None), (CLIENT_ID, None)]), ("u", "c")),
            (entity(&[(USER, None)]), ("u", "")),
            (entity(&[(CLIENT_ID, Some("c"))]), ("", "c")),
            (entity(&[(CLIENT_ID, None)]), ("", "c")),
        ];
        // Entities of other users and clients never match.
        let others = [
            entity(&[(USER, Some("v")), (CLIENT_ID, Some("c"))]),
            entity(&[(USER, Some("u")), (CLIENT_ID, Some("d"))]),
            entity(&[(USER, Some("v"))]),
            entity(&[(CLIENT_ID, Some("d"))]),
            entity(&[(USER, None), (CLIENT_ID, Some("d"))]),
        ];
        for mask in 0u32..256 {
            let mut configs = BTreeMap::new();
            for o in &others {
                configs.insert(o.clone(), [("producer_byte_rate".to_string(), 1.0)].into());
            }
            for (i, (e, _)) in ranked.iter().enumerate() {
                if mask & (1 << i) != 0 {
                    configs.insert(
                        e.clone(),
                        [("producer_byte_rate".to_string(), 100.0 + i as f64)].into(),
                    );
                }
            }
            let got = resolve_in(&configs, QuotaType::Produce, "u", "c");
            let want = (0..8).find(|i| mask & (1 << i) != 0).map(|i| {
                let (u, c) = ranked[i].1;
                (100.0 + i as f64, (u.to_string(), c.to_string()))
            });
            assert_eq!(got, want, "entities set: {mask:08b}");
        }
    }

    #[test]
    fn each_quota_type_resolves_on_its_own() {
        let mut configs = BTreeMap::new();
        configs.insert(
            entity(&[(USER, Some("u"))]),
            [("consumer_byte_rate".to_string(), 5.0)].into(),
        );
        configs.insert(
            entity(&[(CLIENT_ID, None)]),
            [("producer_byte_rate".to_string(), 7.0)].into(),
        );
        assert_eq!(
            resolve_in(&configs, QuotaType::Produce, "u", "c"),
            Some((7.0, (String::new(), "c".into())))
        );
        assert_eq!(
            resolve_in(&configs, QuotaType::Fetch, "u", "c"),
            Some((5.0, ("u".into(), String::new())))
        );
        assert_eq!(resolve_in(&configs, QuotaType::Request, "u", "c"), None);
    }

    #[test]
    fn quotas_survive_reopen_and_a_removed_entity_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let q = ClientQuotas::open(dir.path(), QuotaWindow::default()).unwrap();
        assert!(!q.any_enabled());
        let alice = entity(&[(USER, Some("alice")), (CLIENT_ID, None)]);
        let dflt = entity(&[(CLIENT_ID, None)]);
        q.apply(vec![
            (
                alice.clone(),
                [("request_percentage".to_string(), 12.5)].into(),
            ),
            (
                dflt.clone(),
                [("producer_byte_rate".to_string(), 1024.0)].into(),
            ),
        ])
        .unwrap();
        drop(q);
        let q = ClientQuotas::open(dir.path(), QuotaWindow::default()).unwrap();
        assert!(q.enabled(QuotaType::Request) && q.enabled(QuotaType::Produce));
        assert_eq!(q.all()[&alice]["request_percentage"], 12.5);
        q.apply(vec![(dflt.clone(), BTreeMap::new())]).unwrap();
        let q = ClientQuotas::open(dir.path(), QuotaWindow::default()).unwrap();
        assert!(!q.enabled(QuotaType::Produce));
        assert!(!q.all().contains_key(&dflt));
        assert!(!dir.path().join("client-quotas.json.tmp").exists());
    }

    #[test]
    fn a_malformed_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(QUOTAS_FILE), "{").unwrap();
        assert!(ClientQuotas::open(dir.path(), QuotaWindow::default()).is_err());
    }
}

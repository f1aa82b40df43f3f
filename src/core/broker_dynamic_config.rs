//! Per-broker dynamic configs Kafka lets AlterConfigs set on one broker id
//! and that odradek accepts without effect: the SASL settings of Kafka's
//! `DynamicListenerConfig.ReconfigurableConfigs`. odradek has no SASL
//! listener, so a value is only checked for its type and then ignored (not
//! stored, not described). Every other broker config stays refused as a
//! static one.

/// How a value is checked (Kafka's `ConfigDef` type).
#[derive(Clone, Copy)]
enum Kind {
    Long,
    Double,
    Short,
    Text,
}

const SASL_LISTENER_CONFIGS: [(&str, Kind); 11] = [
    ("sasl.enabled.mechanisms", Kind::Text),
    ("sasl.kerberos.kinit.cmd", Kind::Text),
    ("sasl.kerberos.min.time.before.relogin", Kind::Long),
    ("sasl.kerberos.principal.to.local.rules", Kind::Text),
    ("sasl.kerberos.service.name", Kind::Text),
    ("sasl.kerberos.ticket.renew.jitter", Kind::Double),
    ("sasl.kerberos.ticket.renew.window.factor", Kind::Double),
    ("sasl.login.refresh.buffer.seconds", Kind::Short),
    ("sasl.login.refresh.min.period.seconds", Kind::Short),
    ("sasl.login.refresh.window.factor", Kind::Double),
    ("sasl.login.refresh.window.jitter", Kind::Double),
];

/// `None` when `key` is not a per-broker dynamic config odradek accepts;
/// otherwise whether `value` (absent: the config is deleted) is well typed.
pub fn check(key: &str, value: Option<&str>) -> Option<Result<(), &'static str>> {
    let (_, kind) = SASL_LISTENER_CONFIGS.iter().find(|(k, _)| *k == key)?;
    let Some(v) = value.map(str::trim) else {
        return Some(Ok(()));
    };
    Some(match kind {
        Kind::Long => v.parse::<i64>().map(|_| ()).map_err(|_| "not a long"),
        Kind::Short => v.parse::<i16>().map(|_| ()).map_err(|_| "not a short"),
        Kind::Double => v
            .parse::<f64>()
            .ok()
            .filter(|d| d.is_finite())
            .map(|_| ())
            .ok_or("not a double"),
        Kind::Text => Ok(()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sasl_listener_configs_are_type_checked_and_others_unknown() {
        assert_eq!(
            check("sasl.kerberos.min.time.before.relogin", Some("58000")),
            Some(Ok(()))
        );
        assert!(check("sasl.kerberos.min.time.before.relogin", Some("soon"))
            .unwrap()
            .is_err());
        assert_eq!(check("sasl.kerberos.service.name", None), Some(Ok(())));
        assert_eq!(check("log.retention.ms", Some("1")), None);
    }
}

//! `Builder::from_env_or` and `from_default_env_or` decide as env_logger's
//! `Env::filter_or` / `default_filter_or`: the variable when it is set (even empty), the
//! default otherwise. `FullPolicy` is re-exported.

use log::LevelFilter;

/// The maximum level env_logger's builder gets from `Env::new().filter_or(var, default)`.
fn env_logger_max(var: &str, default: &str) -> LevelFilter {
    env_logger::Builder::from_env(env_logger::Env::new().filter_or(var, default))
        .build()
        .filter()
}

fn ours_max(var: &str, default: &str) -> LevelFilter {
    let (logger, _guard) = logbuf_log::Builder::from_env_or(var, default)
        .policy(logbuf_log::FullPolicy::Block)
        .build()
        .unwrap();
    logger.max_level()
}

#[test]
fn a_default_applies_only_when_the_variable_is_unset() {
    const UNSET: &str = "LOGBUF_DEFAULT_FILTER_TEST_UNSET";
    const SET: &str = "LOGBUF_DEFAULT_FILTER_TEST_SET";
    const EMPTY: &str = "LOGBUF_DEFAULT_FILTER_TEST_EMPTY";
    // SAFETY: this file's only test; no other thread of the process reads or writes the
    // environment while it runs.
    unsafe {
        std::env::set_var(SET, "debug");
        std::env::set_var(EMPTY, "");
        std::env::remove_var(UNSET);
    }
    for default in ["warn", "trace", "my_app=debug", "off"] {
        for var in [UNSET, SET, EMPTY] {
            assert_eq!(
                ours_max(var, default),
                env_logger_max(var, default),
                "{var} with default {default:?}"
            );
        }
    }
    assert_eq!(ours_max(UNSET, "warn"), LevelFilter::Warn);
    assert_eq!(ours_max(SET, "warn"), LevelFilter::Debug);
    // Empty is set: no directive, errors only.
    assert_eq!(ours_max(EMPTY, "warn"), LevelFilter::Error);
}

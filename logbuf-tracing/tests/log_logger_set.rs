//! With a `log` logger already set, the one-line setups refuse, say why, and install nothing.
//! One test: it sets the global `log` logger.

use logbuf_tracing::Error;
use tracing_subscriber::layer::SubscriberExt;

struct Other;

impl log::Log for Other {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, _: &log::Record<'_>) {}
    fn flush(&self) {}
}

#[test]
fn a_log_logger_already_set_is_explained() {
    log::set_boxed_logger(Box::new(Other)).unwrap();
    let error = logbuf_tracing::init().unwrap_err();
    assert!(matches!(error, Error::LogLogger(_)), "{error:?}");
    let text = error.to_string();
    assert!(text.contains("a `log` logger is already set"), "{text}");
    assert!(text.contains("LogbufLayer::builder"), "{text}");
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        logbuf_tracing::init_file(dir.path().join("app.lbf")),
        Err(Error::LogLogger(_))
    ));
    // Nothing was installed: the global `tracing` subscriber is still free.
    let (layer, _guard) = logbuf_tracing::LogbufLayer::builder().build().unwrap();
    tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer)).unwrap();
}

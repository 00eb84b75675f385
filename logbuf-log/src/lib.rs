//! A `log::Log` back end on the logbuf journal.

//! The settings of conditional requests on todos (ETags, `If-None-Match`, `If-Match`).

/// How todo reads are revalidated and writes made conditional.
#[derive(Debug, Clone, clap::Args)]
pub struct ConditionalConfig {
    /// Answer 428 Precondition Required to a `PUT`, `PATCH` or `DELETE` of todos without
    /// `If-Match`: every write must say which version it changes. `false` is LoopBack's
    /// behaviour (its clients send no `If-Match`).
    #[arg(long, env = "TODO_JWT_REQUIRE_IF_MATCH", default_value_t = false,
          action = clap::ArgAction::Set)]
    pub require_if_match: bool,

    /// MiB of serialised `GET /todos` and `/todos/count` answers kept by user, query and
    /// version, and served again while the user's todos do not change (0: none kept).
    #[arg(long, env = "TODO_JWT_LIST_CACHE_MB", default_value_t = 32,
          value_parser = clap::value_parser!(u64).range(0..=65_536))]
    pub list_cache_mb: u64,
}

//! Settings nobody reads: each `TODO_JWT_*` variable in the environment that is not one of the
//! service's is named at start, with the closest setting when one is near (a typo such as
//! `TODO_JWT_PROT` was otherwise ignored without a word, while a flag's typo gets clap's hint).

use clap::CommandFactory;

use super::Cli;

/// The prefix of the service's variables.
const PREFIX: &str = "TODO_JWT_";

/// The test suite's own variables (`tests/run.sh` sets them; the service reads none).
const TEST_PREFIX: &str = "TODO_JWT_TEST_";

/// Whether `name` is one of the variables Kubernetes gives the containers beside a Service
/// named `todo-jwt` (`TODO_JWT_SERVICE_HOST`, `TODO_JWT_PORT_3000_TCP`, ...): not a typo.
fn kubernetes_service_link(name: &str) -> bool {
    name.starts_with("TODO_JWT_SERVICE_")
        || name
            .strip_prefix("TODO_JWT_PORT_")
            .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
}

/// Logs a warning for each unknown `TODO_JWT_*` variable of this process's environment.
pub fn warn_unknown() {
    let known = known();
    let names = std::env::vars_os().filter_map(|(name, _)| name.into_string().ok());
    for (name, closest) in unknown(names, &known) {
        match closest {
            Some(closest) => tracing::warn!(
                "{name} is not a setting of todo-jwt and is ignored: did you mean {closest}?"
            ),
            None => tracing::warn!(
                "{name} is not a setting of todo-jwt and is ignored (`todo-jwt --help` lists \
                 every setting with its variable)"
            ),
        }
    }
}

/// Every variable a setting of the command line reads, its subcommands' too.
fn known() -> Vec<String> {
    fn collect(command: &clap::Command, names: &mut Vec<String>) {
        names.extend(
            command
                .get_arguments()
                .filter_map(|argument| argument.get_env())
                .map(|name| name.to_string_lossy().into_owned()),
        );
        for subcommand in command.get_subcommands() {
            collect(subcommand, names);
        }
    }
    let mut names = Vec::new();
    collect(&Cli::command(), &mut names);
    names
}

/// The `TODO_JWT_*` names among `names` that are not `known`, in order, each with the known
/// name closest to it if it is within a typo or two.
fn unknown(
    names: impl IntoIterator<Item = String>,
    known: &[String],
) -> Vec<(String, Option<&str>)> {
    let mut unknown: Vec<_> = names
        .into_iter()
        .filter(|name| {
            name.starts_with(PREFIX)
                && !name.starts_with(TEST_PREFIX)
                && !kubernetes_service_link(name)
                && !known.contains(name)
        })
        .map(|name| {
            let closest = closest(&name, known);
            (name, closest)
        })
        .collect();
    unknown.sort_unstable();
    unknown
}

/// The known name nearest `name` (Damerau-Levenshtein), if at most one edit in four of the
/// part after the prefix (at least one) away.
fn closest<'k>(name: &str, known: &'k [String]) -> Option<&'k str> {
    let allowed = (name.len().saturating_sub(PREFIX.len()) / 4).max(1);
    known
        .iter()
        .map(|candidate| (strsim::damerau_levenshtein(name, candidate), candidate))
        .filter(|(distance, _)| *distance <= allowed)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_get_the_setting_they_meant_and_strangers_none() {
        let known = known();
        assert!(
            known.iter().any(|name| name == "TODO_JWT_PORT"),
            "{known:?}"
        );
        let names = [
            "TODO_JWT_PROT",
            "TODO_JWT_TOKEN_LIFETME",
            "TODO_JWT_PORT",
            "TODO_JWT_SOMETHING_ELSE_ENTIRELY",
            "TODO_JWT_TEST_BACKEND",
            "TODO_JWT_SERVICE_HOST",
            "TODO_JWT_PORT_3000_TCP_ADDR",
            "PATH",
        ]
        .map(str::to_owned);
        assert_eq!(
            unknown(names, &known),
            [
                ("TODO_JWT_PROT".to_owned(), Some("TODO_JWT_PORT")),
                ("TODO_JWT_SOMETHING_ELSE_ENTIRELY".to_owned(), None),
                (
                    "TODO_JWT_TOKEN_LIFETME".to_owned(),
                    Some("TODO_JWT_TOKEN_LIFETIME")
                ),
            ]
        );
    }
}

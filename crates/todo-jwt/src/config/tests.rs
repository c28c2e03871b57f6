use std::{fs, io::Write, path::PathBuf};

use secrecy::SecretString;

use super::{
    Config, ConfigError, Database, SecretSource, Settings, secret::load_or_generate_secret,
};

fn settings(config: &Config) -> Settings {
    Settings::new(config).expect("valid settings")
}

#[test]
fn a_generated_secret_is_kept_private_and_reused() {
    use secrecy::ExposeSecret;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Config::for_data_dir(dir.path());
    let (_, source) = settings(&config).service_secret().expect("generated");
    assert_eq!(source, SecretSource::Generated);
    let read = || fs::read_to_string(dir.path().join("jwt-secret")).expect("stored");
    let first = read();
    assert_eq!(first.len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(dir.path().join("jwt-secret"))
            .expect("file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let (_, source) = settings(&config).service_secret().expect("stored");
    assert_eq!(source, SecretSource::Stored);
    let (stored, _) = load_or_generate_secret(&dir.path().join("jwt-secret")).expect("stored");
    assert_eq!(stored.expose_secret(), first);
}

#[test]
fn the_database_url_selects_the_engine() {
    let mut config = Config::for_data_dir("data");
    assert_eq!(
        settings(&config).database,
        Database::Sqlite(PathBuf::from("data/todo-jwt.sqlite3"))
    );
    config.database_url = Some("postgres://postgres@localhost/todo".into());
    assert!(matches!(
        settings(&config).database,
        Database::Postgres { pool_size: 16, .. }
    ));
    config.database_url = Some("sqlite:/tmp/x.db".into());
    assert_eq!(
        settings(&config).database,
        Database::Sqlite(PathBuf::from("/tmp/x.db"))
    );
    config.database_url = Some("other.db".into());
    assert_eq!(
        settings(&config).database,
        Database::Sqlite(PathBuf::from("other.db"))
    );
    // Another kind of database, or a PostgreSQL URL misspelled, is refused, and the message
    // names the scheme and what is accepted (never the rest: it may hold a password).
    for (url, says) in [
        (
            "mysql://root:hunter2@localhost/todo",
            "the scheme \"mysql\" is not a database this service uses",
        ),
        ("postgres:/todo", "the scheme \"postgres\" is PostgreSQL's"),
        (
            "Postgres://user@host/db",
            "the scheme \"Postgres\" is PostgreSQL's",
        ),
    ] {
        config.database_url = Some(url.into());
        let error = Settings::new(&config).expect_err(url).to_string();
        assert!(error.starts_with("TODO_JWT_DATABASE_URL: "), "{error}");
        assert!(
            error.contains(says) && error.contains("postgres://user"),
            "{error}"
        );
        assert!(!error.contains("hunter2"), "{error}");
    }
    config.database_url = Some("host=db user=app password=hunter2 dbname=todo".into());
    let error = Settings::new(&config)
        .expect_err("a connection string")
        .to_string();
    assert!(error.contains("key=value connection string"), "{error}");
    assert!(!error.contains("hunter2"), "{error}");
}

#[test]
fn postgres_without_a_configured_secret_is_refused() {
    let mut config = Config::for_data_dir("unused");
    config.database_url = Some("postgres://postgres@localhost/todo".into());
    let error = settings(&config).service_secret().expect_err("refused");
    assert!(error.to_string().contains("TODO_JWT_SECRET"), "{error}");
}

#[test]
fn the_data_directory_is_created_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = Config::for_data_dir(dir.path().join("nested/data"));
    settings(&config).ensure_data_dir().expect("created");
    let mode = fs::metadata(&config.data_dir)
        .expect("dir")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
}

#[test]
fn a_secret_file_others_can_read_is_refused_with_the_fix() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("jwt-secret");
    fs::write(&path, "0123456789abcdef0123456789abcdef0123456789abcdef").expect("write");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
    let config = Config::for_data_dir(dir.path());
    let error = settings(&config)
        .service_secret()
        .expect_err("refused")
        .to_string();
    assert!(
        error.contains("chmod 600") && error.contains("644"),
        "{error}"
    );
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
    assert!(settings(&config).service_secret().is_ok());
}

#[test]
fn a_secret_of_few_different_characters_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("jwt-secret");
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(&path)
        .and_then(|mut file| file.write_all("a".repeat(42).as_bytes()))
        .expect("write");
    let config = Config::for_data_dir(dir.path());
    let error = settings(&config)
        .service_secret()
        .expect_err("refused")
        .to_string();
    assert!(error.contains("only 1 different"), "{error}");
    let mut configured = Config::for_data_dir("unused");
    configured.secret = Some(SecretString::from("abababababababababababababababab"));
    assert!(matches!(
        settings(&configured).service_secret(),
        Err(ConfigError::SecretTooSimple(2))
    ));
}

#[test]
fn a_short_configured_secret_is_refused() {
    let mut config = Config::for_data_dir("unused");
    config.secret = Some(SecretString::from("short"));
    assert!(matches!(
        settings(&config).service_secret(),
        Err(ConfigError::SecretTooShort(5))
    ));
}

#[test]
fn the_defaults_are_the_flag_parsers() {
    let config = Config::for_data_dir("somewhere");
    assert_eq!(config.port, 0);
    assert_eq!(config.data_dir, PathBuf::from("somewhere"));
    assert_eq!(config.token_lifetime, 21_600);
    assert_eq!(config.key_activation_delay, 600);
    assert_eq!(config.cors_origins, "*");
    assert!(config.refresh_rotation && config.metrics);
    assert!(Settings::new(&config).is_ok());
}

#[test]
fn a_number_out_of_range_is_refused_with_its_name() {
    type Spoil = fn(&mut Config);
    let cases: [(&str, Spoil); 6] = [
        ("TODO_JWT_BODY_TIMEOUT", |config| {
            config.body_timeout = u64::MAX
        }),
        ("TODO_JWT_SEND_TIMEOUT", |config| config.send_timeout = 0),
        ("TODO_JWT_QUERY_TIMEOUT_MS", |config| {
            config.query_timeout_ms = u64::MAX
        }),
        ("TODO_JWT_TOKEN_LIFETIME", |config| {
            config.token_lifetime = u64::MAX / 2
        }),
        ("TODO_JWT_MAX_CONNECTIONS", |config| {
            config.max_connections = 1 << 62
        }),
        ("TODO_JWT_DB_POOL_SIZE", |config| config.db_pool_size = 0),
    ];
    for (name, spoil) in cases {
        let mut config = Config::for_data_dir("unused");
        spoil(&mut config);
        let error = Settings::new(&config).expect_err(name);
        assert!(
            matches!(error, ConfigError::OutOfRange { name: got, .. } if got == name),
            "{name}: {error}"
        );
        assert!(error.to_string().starts_with(name), "{error}");
    }
}

#[test]
fn a_flag_out_of_range_is_refused_by_the_parser() {
    use clap::Parser;
    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        config: Config,
    }
    let parsed = Flags::try_parse_from(["todo-jwt", "--body-timeout", "99999999999"]);
    assert!(parsed.is_err());
    let parsed = Flags::try_parse_from(["todo-jwt", "--body-timeout", "3600"]);
    assert_eq!(parsed.expect("in range").config.body_timeout, 3_600);
}

#[test]
fn a_configured_secret_chosen_by_a_person_is_refused_unless_allowed() {
    let chosen = [
        "correct horse battery staple 2025",
        "MySuperSecretPasswordForJWT2024!",
        "test-secret-that-is-long-enough-for-hs256!",
        "my-company-jwt-signing-secret-prod",
        // Patterns rather than words.
        "0123456789abcdef0123456789abcdef",
        "Tr0ub4dor&3Tr0ub4dor&3Tr0ub4dor&3",
        "qwertyuiopasdfghjklzxcvbnm123456",
    ];
    for secret in chosen {
        let mut config = Config::for_data_dir("unused");
        config.secret = Some(SecretString::from(secret));
        let error = settings(&config).service_secret().expect_err(secret);
        assert!(
            matches!(error, ConfigError::SecretGuessable(_)),
            "{secret}: {error}"
        );
        let message = error.to_string();
        assert!(
            message.contains("openssl rand -hex 32")
                && message.contains("TODO_JWT_ALLOW_GUESSABLE_SECRET"),
            "{message}"
        );
        config.allow_guessable_secret = true;
        assert!(settings(&config).service_secret().is_ok(), "{secret}");
    }
}

#[test]
fn generated_secrets_are_accepted() {
    use base64::Engine as _;
    for _ in 0..200 {
        let bytes: [u8; 32] = rand::random();
        let hex: String = bytes.iter().map(|byte| format!("{byte:02x}")).collect();
        let generated = [
            hex.clone(),
            hex[..32].to_owned(),
            base64::engine::general_purpose::STANDARD.encode(bytes),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes),
        ];
        for secret in generated {
            let mut config = Config::for_data_dir("unused");
            config.secret = Some(SecretString::from(secret.clone()));
            assert!(settings(&config).service_secret().is_ok(), "{secret}");
        }
    }
}

#[test]
fn a_data_directory_that_is_a_file_is_said_to_be_one() {
    let parent = tempfile::tempdir().expect("tempdir");
    let file = parent.path().join("data");
    fs::write(&file, "not a directory").expect("write");
    let config = Config::for_data_dir(&file);
    let error = settings(&config).ensure_data_dir().expect_err("a file");
    let text = error.to_string();
    assert!(text.contains("is a file, not a directory"), "{text}");
    assert!(text.contains(&file.display().to_string()), "{text}");
}

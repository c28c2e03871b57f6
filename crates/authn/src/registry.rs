//! The strategies an application knows, and the layers built from them.

use std::{collections::HashMap, sync::Arc};

use axum::response::Response;

use crate::{
    error::AuthError,
    hooks::{AuthObserver, Renderer},
    layer::AuthLayer,
    strategy::AuthenticationStrategy,
};

/// The strategies an application knows, by name, with the hooks every layer built from it
/// shares: how failures are rendered, and who observes outcomes.
///
/// Cheap to clone; build it once at start-up and derive one [`AuthLayer`] per protected router.
#[derive(Clone, Default)]
pub struct StrategyRegistry {
    strategies: HashMap<String, Arc<dyn AuthenticationStrategy>>,
    renderer: Renderer,
    observers: Vec<Arc<dyn AuthObserver>>,
}

impl StrategyRegistry {
    /// An empty registry, rendering failures with [`Renderer::plain`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `strategy` under its name, replacing one of the same name.
    pub fn with(mut self, strategy: impl AuthenticationStrategy) -> Self {
        self.register(Arc::new(strategy));
        self
    }

    /// Registers a shared strategy under its name, replacing one of the same name.
    pub fn register(&mut self, strategy: Arc<dyn AuthenticationStrategy>) {
        self.strategies.insert(strategy.name().to_owned(), strategy);
    }

    /// Renders failures with `render`: the application's wire format for a 401 or a 500.
    pub fn render_with(
        mut self,
        render: impl Fn(AuthError) -> Response + Send + Sync + 'static,
    ) -> Self {
        self.renderer = Renderer::new(render);
        self
    }

    /// Adds an observer of every authentication outcome (see [`AuthObserver`]).
    pub fn observe(mut self, observer: impl AuthObserver) -> Self {
        self.observers.push(Arc::new(observer));
        self
    }

    /// The strategy registered as `name`.
    pub fn get(&self, name: &str) -> Option<Arc<dyn AuthenticationStrategy>> {
        self.strategies.get(name).cloned()
    }

    /// A layer that requires one of the named strategies, tried in the given order: the first
    /// success wins; when all fail, the first strategy's error is the answer.
    ///
    /// Fails when a name is not registered or no name is given, so a typo is found at start-up
    /// rather than by the first caller.
    pub fn require<I, S>(&self, names: I) -> Result<AuthLayer, AuthError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let strategies = names
            .into_iter()
            .map(|name| {
                let name = name.as_ref();
                self.get(name)
                    .ok_or_else(|| AuthError::UnknownStrategy(name.to_owned()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if strategies.is_empty() {
            return Err(AuthError::UnknownStrategy(String::new()));
        }
        Ok(AuthLayer::new(
            strategies,
            self.renderer.clone(),
            self.observers.clone(),
        ))
    }
}

impl std::fmt::Debug for StrategyRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StrategyRegistry")
            .field("strategies", &self.strategies.keys().collect::<Vec<_>>())
            .field("observers", &self.observers.len())
            .finish()
    }
}

//! Conditional requests in the document: the `If-None-Match` and `If-Match` header parameters
//! and the 304 response.

use utoipa::{
    IntoParams, ToResponse,
    openapi::{
        HeaderBuilder, RefOr, Required, Response, ResponseBuilder, Type,
        path::{Parameter, ParameterBuilder, ParameterIn},
        schema::ObjectBuilder,
    },
};

fn header(name: &str, description: &str) -> Vec<Parameter> {
    vec![
        ParameterBuilder::new()
            .name(name)
            .parameter_in(ParameterIn::Header)
            .required(Required::False)
            .description(Some(description))
            .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
            .build(),
    ]
}

/// `If-None-Match` on a read.
pub struct IfNoneMatch;

impl IntoParams for IfNoneMatch {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        header(
            "If-None-Match",
            "The `ETag` of a copy the client holds (or a list of them): while it is current the \
             answer is 304 with no body",
        )
    }
}

/// `If-Match` on a write.
pub struct IfMatch;

impl IntoParams for IfMatch {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        header(
            "If-Match",
            "The `ETag` of the copy the change is based on: if it is no longer current the \
             answer is 412 and nothing changes (required when the service runs with \
             `TODO_JWT_REQUIRE_IF_MATCH=true`, 428 without it)",
        )
    }
}

/// 304.
pub struct NotModified;

impl<'r> ToResponse<'r> for NotModified {
    fn response() -> (&'r str, RefOr<Response>) {
        let etag = HeaderBuilder::new()
            .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
            .description(Some("The current entity tag (the one sent)"))
            .build();
        let response = ResponseBuilder::new()
            .description("`If-None-Match` names the current version: the client's copy is current")
            .header("ETag", etag)
            .build();
        ("NotModified", response.into())
    }
}

//! The two workspaces a kind reads (and writes) between, each with the
//! token to call it with: the shape the workspace kinds' readers take, so a
//! reader is one function for either side.

use crate::databricks::WorkspaceClient;
use crate::identity::AccessToken;

/// One workspace and the token to call it with.
#[derive(Clone, Copy)]
pub struct Side<'a> {
    pub client: &'a WorkspaceClient,
    pub token: &'a AccessToken,
}

/// Assets flow from `source` to `target` (primary to secondary).
#[derive(Clone, Copy)]
pub struct Endpoints<'a> {
    pub source: Side<'a>,
    pub target: Side<'a>,
}

/// How many reads of one kind run at once against a workspace (listing
/// folders, reading grants): few enough to stay under its rate limits
/// (429s are retried, not counted on).
pub const READS: usize = 8;

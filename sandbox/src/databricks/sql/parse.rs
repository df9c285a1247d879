//! The SQL the sandbox's warehouse understands: exactly the statements drbot
//! issues for replication, with Databricks' identifier rules (backticks,
//! doubled to escape) and string literals. Anything else is a
//! `PARSE_SYNTAX_ERROR`, as the real warehouse would answer a typo.

use super::super::metastore::Securable;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    Text(String),
    Symbol(char),
}

/// A parsed statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Statement {
    CreateSchema {
        name: Vec<String>,
        if_not_exists: bool,
    },
    CloneTable {
        name: Vec<String>,
        or_replace: bool,
        if_not_exists: bool,
        deep: bool,
        source: CloneSource,
        location: Option<String>,
    },
    /// `CREATE TABLE [IF NOT EXISTS] t [(c type, …)] USING fmt [OPTIONS
    /// (k 'v', …)] [PARTITIONED BY (c, …)] LOCATION '…'`.
    CreateTableUsing {
        name: Vec<String>,
        if_not_exists: bool,
        format: String,
        location: String,
        columns: Vec<(String, String)>,
        options: std::collections::BTreeMap<String, String>,
        partitioned_by: Vec<String>,
    },
    /// `DESCRIBE TABLE EXTENDED t AS JSON`.
    DescribeTableJson {
        name: Vec<String>,
    },
    CreateView {
        name: Vec<String>,
        or_replace: bool,
        if_not_exists: bool,
        query: String,
        dependencies: Vec<Vec<String>>,
        /// Qualified functions the query calls (`c.s.f(…)`).
        functions: Vec<Vec<String>>,
    },
    /// `CREATE [OR REPLACE | OR REFRESH] MATERIALIZED VIEW [IF NOT EXISTS]
    /// m AS query` and `CREATE [OR REFRESH] STREAMING TABLE [IF NOT
    /// EXISTS] t AS query` (Databricks SQL's own datasets): `table_type` is
    /// `MATERIALIZED_VIEW` or `STREAMING_TABLE`; `or_replace` stands for
    /// either `OR REPLACE` or `OR REFRESH` (both redefine an existing one).
    CreateDataset {
        table_type: String,
        name: Vec<String>,
        or_replace: bool,
        if_not_exists: bool,
        query: String,
        dependencies: Vec<Vec<String>>,
        functions: Vec<Vec<String>>,
    },
    /// `ALTER VIEW v AS query`: a new definition, same owner and grants.
    AlterViewAs {
        name: Vec<String>,
        query: String,
        dependencies: Vec<Vec<String>>,
        functions: Vec<Vec<String>>,
    },
    /// `CREATE [OR REPLACE] FUNCTION [IF NOT EXISTS] f (p type, …) RETURNS
    /// type [LANGUAGE SQL] RETURN expr`: a SQL scalar function.
    CreateFunction {
        name: Vec<String>,
        or_replace: bool,
        if_not_exists: bool,
        parameters: Vec<(String, String)>,
        returns: String,
        body: String,
        tables: Vec<Vec<String>>,
        functions: Vec<Vec<String>>,
        /// `COMMENT '…'`: the function's comment (a replace sets it anew).
        comment: Option<String>,
    },
    CreateExternalVolume {
        name: Vec<String>,
        if_not_exists: bool,
        location: String,
    },
    Grant {
        privileges: Vec<String>,
        securable: Securable,
        name: Vec<String>,
        principal: String,
    },
    Revoke {
        privileges: Vec<String>,
        securable: Securable,
        name: Vec<String>,
        principal: String,
    },
    AlterOwner {
        securable: Securable,
        name: Vec<String>,
        owner: String,
    },
    /// `ALTER TABLE t SET ROW FILTER f ON (c, …)` (a function and its
    /// columns), or `ALTER TABLE t DROP ROW FILTER` (`None`).
    SetRowFilter {
        name: Vec<String>,
        filter: Option<(Vec<String>, Vec<String>)>,
    },
    /// `ALTER TABLE t ADD CONSTRAINT n PRIMARY KEY (c, …) [options]` or
    /// `… FOREIGN KEY (c, …) REFERENCES p [(c, …)] [options]`
    /// (`references`); the options the sandbox understands are `RELY`,
    /// `NORELY`, `NOT ENFORCED`, `DEFERRABLE`, `INITIALLY DEFERRED`, `MATCH
    /// FULL`, `ON UPDATE NO ACTION`, `ON DELETE NO ACTION`.
    AddConstraint {
        name: Vec<String>,
        constraint: String,
        columns: Vec<String>,
        references: Option<(Vec<String>, Vec<String>)>,
        rely: bool,
    },
    /// `ALTER TABLE t DROP CONSTRAINT [IF EXISTS] n [RESTRICT | CASCADE]`.
    DropConstraint {
        name: Vec<String>,
        constraint: String,
        if_exists: bool,
        cascade: bool,
    },
    /// `ALTER TABLE t ALTER COLUMN c SET MASK f [USING COLUMNS (c, …)]`, or
    /// `… ALTER COLUMN c DROP MASK` (`None`).
    SetColumnMask {
        name: Vec<String>,
        column: String,
        mask: Option<(Vec<String>, Vec<String>)>,
    },
    /// `COMMENT ON {CATALOG | SCHEMA | TABLE | VOLUME} name IS {'text' |
    /// NULL}`, or `COMMENT ON COLUMN relation.column IS …` (`column`; the
    /// relation a table or a view).
    Comment {
        securable: Securable,
        name: Vec<String>,
        column: Option<String>,
        comment: Option<String>,
    },
    /// `ALTER {CATALOG | SCHEMA | TABLE | VIEW | VOLUME} name [ALTER COLUMN
    /// c] SET TAGS ('k' = 'v', …)` (or key-only `('k', …)`, values empty).
    SetTags {
        securable: Securable,
        name: Vec<String>,
        column: Option<String>,
        tags: std::collections::BTreeMap<String, String>,
    },
    /// `… UNSET TAGS ('k', …)`.
    UnsetTags {
        securable: Securable,
        name: Vec<String>,
        column: Option<String>,
        keys: Vec<String>,
    },
    /// `ALTER TABLE t SET TBLPROPERTIES ('k' = 'v', …)`.
    SetTableProperties {
        name: Vec<String>,
        properties: std::collections::BTreeMap<String, String>,
    },
    /// `ALTER TABLE t UNSET TBLPROPERTIES [IF EXISTS] ('k', …)`.
    UnsetTableProperties {
        name: Vec<String>,
        keys: Vec<String>,
        if_exists: bool,
    },
    CurrentMetastore,
    /// `LIST 'url' [LIMIT n]`: the objects immediately under a storage path.
    List {
        url: String,
        limit: Option<usize>,
    },
    /// `DESCRIBE HISTORY t [LIMIT n]`: newest commit first.
    DescribeHistory {
        name: Vec<String>,
        limit: Option<usize>,
    },
    /// `SELECT COUNT(*) AS row_count [, bit_xor(xxhash64(*)) AS row_hash]
    /// FROM t`: a table's rows counted, and digested when `hash`.
    CountRows {
        name: Vec<String>,
        hash: bool,
    },
    /// `DESCRIBE DETAIL t`.
    DescribeDetail {
        name: Vec<String>,
    },
    /// `SELECT col, … FROM catalog.information_schema.view [WHERE
    /// inherited_from IS NULL]`: the only query shape the sandbox answers
    /// (one view, named columns, the one filter drbot uses).
    InformationSchema {
        catalog: String,
        view: String,
        columns: Vec<String>,
        direct_only: bool,
    },
    /// `SELECT col | to_json(col) AS col, … FROM system.replication.states
    /// WHERE failover_group_name = '…' ORDER BY event_time DESC [LIMIT n]`:
    /// managed DR's status events of one group (`replication_states.rs`).
    ReplicationStates(super::super::replication_states::Query),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CloneSource {
    Table(Vec<String>),
    /// `delta.`abfss://…``: a Delta table by its storage path.
    Path(String),
}

/// Why a statement did not parse; the message follows Databricks' wording.
#[derive(Debug, PartialEq, Eq)]
pub struct SyntaxError(pub String);

fn tokenize(sql: &str) -> Result<Vec<Token>, SyntaxError> {
    let mut tokens = Vec::new();
    let chars: Vec<char> = sql.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '-' && chars.get(i + 1) == Some(&'-') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c.is_ascii_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(Token::Word(chars[start..i].iter().collect()));
        } else if c == '`' || c == '\'' {
            let mut text = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(SyntaxError(format!("[PARSE_SYNTAX_ERROR] Syntax error: unclosed {c}"))),
                    Some(&q) if q == c && chars.get(i + 1) == Some(&c) => {
                        text.push(c);
                        i += 2;
                    }
                    Some(&q) if q == c => {
                        i += 1;
                        break;
                    }
                    Some('\\') if c == '\'' && i + 1 < chars.len() => {
                        // Databricks SQL string literal escapes: `\n`, `\r`,
                        // `\t` are the control characters; any other escaped
                        // character stands for itself.
                        text.push(match chars[i + 1] {
                            'n' => '\n',
                            'r' => '\r',
                            't' => '\t',
                            other => other,
                        });
                        i += 2;
                    }
                    Some(&other) => {
                        text.push(other);
                        i += 1;
                    }
                }
            }
            tokens.push(if c == '`' { Token::Quoted(text) } else { Token::Text(text) });
        } else if "().,*;=<>:+-/|!%".contains(c) {
            tokens.push(Token::Symbol(c));
            i += 1;
        } else {
            return Err(SyntaxError(format!("[PARSE_SYNTAX_ERROR] Syntax error at or near '{c}'.")));
        }
    }
    while tokens.last() == Some(&Token::Symbol(';')) {
        tokens.pop();
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn error<T>(&self) -> Result<T, SyntaxError> {
        let near = match self.tokens.get(self.at) {
            Some(Token::Word(w)) | Some(Token::Quoted(w)) | Some(Token::Text(w)) => w.clone(),
            Some(Token::Symbol(c)) => c.to_string(),
            None => "end of input".into(),
        };
        Err(SyntaxError(format!("[PARSE_SYNTAX_ERROR] Syntax error at or near '{near}'.")))
    }

    fn peek_word(&self, word: &str) -> bool {
        matches!(self.tokens.get(self.at), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn eat(&mut self, word: &str) -> bool {
        let found = self.peek_word(word);
        if found {
            self.at += 1;
        }
        found
    }

    fn expect(&mut self, word: &str) -> Result<(), SyntaxError> {
        if self.eat(word) {
            Ok(())
        } else {
            self.error()
        }
    }

    fn eat_symbol(&mut self, symbol: char) -> bool {
        let found = self.tokens.get(self.at) == Some(&Token::Symbol(symbol));
        if found {
            self.at += 1;
        }
        found
    }

    fn identifier(&mut self) -> Result<String, SyntaxError> {
        match self.tokens.get(self.at).cloned() {
            Some(Token::Word(w)) | Some(Token::Quoted(w)) => {
                self.at += 1;
                Ok(w)
            }
            _ => self.error(),
        }
    }

    fn name(&mut self) -> Result<Vec<String>, SyntaxError> {
        let mut parts = vec![self.identifier()?];
        while self.eat_symbol('.') {
            parts.push(self.identifier()?);
        }
        if parts.len() > 3 {
            return self.error();
        }
        Ok(parts)
    }

    fn text(&mut self) -> Result<String, SyntaxError> {
        match self.tokens.get(self.at).cloned() {
            Some(Token::Text(t)) => {
                self.at += 1;
                Ok(t)
            }
            _ => self.error(),
        }
    }

    /// A non-negative integer constant (`LIMIT n`).
    fn count(&mut self) -> Result<usize, SyntaxError> {
        let count = self.identifier()?;
        count
            .parse::<usize>()
            .map_err(|_| SyntaxError(format!("[PARSE_SYNTAX_ERROR] Syntax error at or near '{count}'.")))
    }

    fn done<T>(&self, value: T) -> Result<T, SyntaxError> {
        if self.at == self.tokens.len() {
            Ok(value)
        } else {
            self.error()
        }
    }

    /// `(c, …)`, possibly empty.
    fn column_list(&mut self) -> Result<Vec<String>, SyntaxError> {
        if !self.eat_symbol('(') {
            return self.error();
        }
        let mut columns = Vec::new();
        if self.eat_symbol(')') {
            return Ok(columns);
        }
        loop {
            columns.push(self.identifier()?);
            if self.eat_symbol(')') {
                return Ok(columns);
            }
            if !self.eat_symbol(',') {
                return self.error();
            }
        }
    }

    /// After `ALTER TABLE name`: `SET ROW FILTER f ON (…)`, `DROP ROW
    /// FILTER`, `ALTER COLUMN c SET MASK f [USING COLUMNS (…)]`, `ALTER
    /// COLUMN c DROP MASK`; `None` when it is none of them.
    fn row_filter_or_mask(&mut self, name: &[String]) -> Result<Option<Statement>, SyntaxError> {
        let name = name.to_vec();
        if let Some(statement) = self.tags(Securable::Table, &name, None)? {
            return Ok(Some(statement));
        }
        if self.eat("SET") {
            if self.eat("TBLPROPERTIES") {
                let properties = self.properties()?;
                return Ok(Some(Statement::SetTableProperties { name, properties }));
            }
            self.expect("ROW")?;
            self.expect("FILTER")?;
            let function = self.name()?;
            self.expect("ON")?;
            let columns = self.column_list()?;
            return Ok(Some(Statement::SetRowFilter { name, filter: Some((function, columns)) }));
        }
        if self.eat("UNSET") {
            self.expect("TBLPROPERTIES")?;
            let if_exists = if self.eat("IF") {
                self.expect("EXISTS")?;
                true
            } else {
                false
            };
            let keys = self.strings()?;
            return Ok(Some(Statement::UnsetTableProperties { name, keys, if_exists }));
        }
        if self.eat("ADD") {
            return self.add_constraint(name).map(Some);
        }
        if self.eat("DROP") {
            if self.eat("CONSTRAINT") {
                let if_exists = if self.eat("IF") {
                    self.expect("EXISTS")?;
                    true
                } else {
                    false
                };
                let constraint = self.identifier()?;
                let cascade = self.eat("CASCADE");
                if !cascade {
                    self.eat("RESTRICT");
                }
                return Ok(Some(Statement::DropConstraint { name, constraint, if_exists, cascade }));
            }
            self.expect("ROW")?;
            self.expect("FILTER")?;
            return Ok(Some(Statement::SetRowFilter { name, filter: None }));
        }
        if self.eat("ALTER") {
            self.eat("COLUMN");
            let column = self.identifier()?;
            if let Some(statement) = self.tags(Securable::Table, &name, Some(&column))? {
                return Ok(Some(statement));
            }
            if self.eat("SET") {
                self.expect("MASK")?;
                let function = self.name()?;
                let columns = if self.eat("USING") {
                    self.expect("COLUMNS")?;
                    self.column_list()?
                } else {
                    Vec::new()
                };
                return Ok(Some(Statement::SetColumnMask { name, column, mask: Some((function, columns)) }));
            }
            self.expect("DROP")?;
            self.expect("MASK")?;
            return Ok(Some(Statement::SetColumnMask { name, column, mask: None }));
        }
        Ok(None)
    }

    /// After `ALTER TABLE name ADD`: a named primary or foreign key (the
    /// sandbox refuses an unnamed one, which drbot never issues, and a
    /// CHECK constraint, which it does not model).
    fn add_constraint(&mut self, name: Vec<String>) -> Result<Statement, SyntaxError> {
        self.expect("CONSTRAINT")?;
        let constraint = self.identifier()?;
        let references = if self.eat("PRIMARY") {
            self.expect("KEY")?;
            None
        } else {
            self.expect("FOREIGN")?;
            self.expect("KEY")?;
            Some(())
        };
        let columns = self.column_list()?;
        let references = match references {
            None => None,
            Some(()) => {
                self.expect("REFERENCES")?;
                let parent = self.name()?;
                let parent_columns = if self.tokens.get(self.at) == Some(&Token::Symbol('(')) {
                    self.column_list()?
                } else {
                    Vec::new()
                };
                Some((parent, parent_columns))
            }
        };
        let mut rely = false;
        loop {
            if self.eat("RELY") {
                rely = true;
            } else if self.eat("NORELY") {
                rely = false;
            } else if self.eat("DEFERRABLE") {
            } else if self.eat("NOT") {
                self.expect("ENFORCED")?;
            } else if self.eat("INITIALLY") {
                self.expect("DEFERRED")?;
            } else if references.is_some() && self.eat("MATCH") {
                self.expect("FULL")?;
            } else if references.is_some() && self.eat("ON") {
                if !self.eat("UPDATE") {
                    self.expect("DELETE")?;
                }
                self.expect("NO")?;
                self.expect("ACTION")?;
            } else {
                break;
            }
        }
        Ok(Statement::AddConstraint { name, constraint, columns, references, rely })
    }

    /// `SET TAGS (…)` or `UNSET TAGS (…)` on `name` (or its `column`);
    /// `None` when neither follows.
    fn tags(
        &mut self,
        securable: Securable,
        name: &[String],
        column: Option<&String>,
    ) -> Result<Option<Statement>, SyntaxError> {
        let (name, column) = (name.to_vec(), column.cloned());
        let tagged = |p: &Parser, at: usize| {
            matches!(p.tokens.get(at), Some(Token::Word(w)) if w.eq_ignore_ascii_case("SET") || w.eq_ignore_ascii_case("UNSET"))
                && matches!(p.tokens.get(at + 1), Some(Token::Word(w)) if w.eq_ignore_ascii_case("TAGS"))
        };
        if !tagged(self, self.at) {
            return Ok(None);
        }
        let set = self.eat("SET");
        if !set {
            self.expect("UNSET")?;
        }
        self.expect("TAGS")?;
        if !set {
            let keys = self.strings()?;
            return Ok(Some(Statement::UnsetTags { securable, name, column, keys }));
        }
        // `('k' = 'v', …)` or key-only `('k', …)`; the two forms are not mixed.
        if !self.eat_symbol('(') {
            return self.error();
        }
        let mut tags = std::collections::BTreeMap::new();
        let mut valued = None;
        loop {
            let key = self.text()?;
            let has_value = self.eat_symbol('=');
            if valued.is_some_and(|v| v != has_value) {
                return self.error();
            }
            valued = Some(has_value);
            let value = if has_value { self.text()? } else { String::new() };
            tags.insert(key, value);
            if self.eat_symbol(')') {
                return Ok(Some(Statement::SetTags { securable, name, column, tags }));
            }
            if !self.eat_symbol(',') {
                return self.error();
            }
        }
    }

    /// `('a', 'b', …)`: at least one string literal.
    fn strings(&mut self) -> Result<Vec<String>, SyntaxError> {
        if !self.eat_symbol('(') {
            return self.error();
        }
        let mut out = vec![self.text()?];
        while self.eat_symbol(',') {
            out.push(self.text()?);
        }
        if !self.eat_symbol(')') {
            return self.error();
        }
        Ok(out)
    }

    /// `('k' = 'v', …)` of TBLPROPERTIES: keys string literals or dotted
    /// words, values string literals or bare words (`true`, numbers).
    fn properties(&mut self) -> Result<std::collections::BTreeMap<String, String>, SyntaxError> {
        if !self.eat_symbol('(') {
            return self.error();
        }
        let mut properties = std::collections::BTreeMap::new();
        loop {
            let key = match self.tokens.get(self.at).cloned() {
                Some(Token::Text(t)) => {
                    self.at += 1;
                    t
                }
                Some(Token::Word(_)) => {
                    let mut parts = vec![self.identifier()?];
                    while self.eat_symbol('.') {
                        parts.push(self.identifier()?);
                    }
                    parts.join(".")
                }
                _ => return self.error(),
            };
            self.eat_symbol('=');
            let value = match self.tokens.get(self.at).cloned() {
                Some(Token::Text(t)) | Some(Token::Word(t)) => t,
                _ => return self.error(),
            };
            self.at += 1;
            properties.insert(key, value);
            if self.eat_symbol(')') {
                return Ok(properties);
            }
            if !self.eat_symbol(',') {
                return self.error();
            }
        }
    }

    fn if_not_exists(&mut self) -> Result<bool, SyntaxError> {
        if self.eat("IF") {
            self.expect("NOT")?;
            self.expect("EXISTS")?;
            return Ok(true);
        }
        Ok(false)
    }

    fn securable(&mut self) -> Result<Securable, SyntaxError> {
        if self.eat("EXTERNAL") {
            self.expect("LOCATION")?;
            return Ok(Securable::ExternalLocation);
        }
        if self.eat("STORAGE") {
            self.expect("CREDENTIAL")?;
            return Ok(Securable::StorageCredential);
        }
        for (word, kind) in [
            ("CATALOG", Securable::Catalog),
            ("SCHEMA", Securable::Schema),
            ("DATABASE", Securable::Schema),
            ("TABLE", Securable::Table),
            ("VIEW", Securable::Table),
            ("VOLUME", Securable::Volume),
            ("FUNCTION", Securable::Function),
        ] {
            if self.eat(word) {
                return Ok(kind);
            }
        }
        self.error()
    }

    /// A view's query to the end of the statement, the tables it reads and
    /// the functions it calls.
    #[allow(clippy::type_complexity)]
    fn view_query(&mut self) -> Result<(String, Vec<Vec<String>>, Vec<Vec<String>>), SyntaxError> {
        if !self.peek_word("SELECT") && !self.peek_word("WITH") {
            return self.error();
        }
        let (query, dependencies, functions) = self.expression()?;
        if dependencies.is_empty() {
            return Err(SyntaxError("[PARSE_SYNTAX_ERROR] A view must read from a table.".into()));
        }
        Ok((query, dependencies, functions))
    }

    /// SQL to the end of the statement: its text, the tables it reads
    /// (`FROM`/`JOIN` names) and the user functions it calls (a qualified
    /// name before `(`; an unqualified one is a built-in).
    #[allow(clippy::type_complexity)]
    fn expression(&mut self) -> Result<(String, Vec<Vec<String>>, Vec<Vec<String>>), SyntaxError> {
        let start = self.at;
        let mut tables = Vec::new();
        let mut functions = Vec::new();
        while self.at < self.tokens.len() {
            if self.eat("FROM") || self.eat("JOIN") {
                // `FROM STREAM t` / `FROM STREAM(t)`: a streaming read of t.
                // (A table named `stream` stays a table: the keyword is
                // followed by a parenthesis or a qualified name.)
                let stream = self.peek_word("STREAM")
                    && match self.tokens.get(self.at + 1) {
                        Some(Token::Symbol('(') | Token::Quoted(_)) => true,
                        Some(Token::Word(_)) => self.tokens.get(self.at + 2) == Some(&Token::Symbol('.')),
                        _ => false,
                    };
                if stream {
                    self.at += 1;
                    let parenthesised = self.eat_symbol('(');
                    tables.push(self.name()?);
                    if parenthesised && !self.eat_symbol(')') {
                        return self.error();
                    }
                    continue;
                }
                tables.push(self.name()?);
            } else if matches!(self.tokens.get(self.at), Some(Token::Word(_) | Token::Quoted(_)))
                && self.tokens.get(self.at + 1) == Some(&Token::Symbol('.'))
            {
                let name = self.name()?;
                if name.len() > 1 && self.tokens.get(self.at) == Some(&Token::Symbol('(')) {
                    functions.push(name);
                }
            } else {
                self.at += 1;
            }
        }
        if start == self.at {
            return self.error();
        }
        Ok((render(&self.tokens[start..]), tables, functions))
    }

    /// A type up to the `,` or `)` that ends it at depth 0 (or the keyword
    /// `RETURN`/`LANGUAGE`), as text: `STRING`, `DECIMAL(10,2)`, `ARRAY<INT>`.
    fn type_text(&mut self) -> Result<String, SyntaxError> {
        let start = self.at;
        let mut depth = 0usize;
        while let Some(token) = self.tokens.get(self.at) {
            match token {
                Token::Symbol('(' | '<') => depth += 1,
                Token::Symbol(')' | '>') if depth == 0 => break,
                Token::Symbol(')' | '>') => depth -= 1,
                Token::Symbol(',') if depth == 0 => break,
                Token::Symbol(',' | ':') | Token::Word(_) => {}
                _ => return self.error(),
            }
            if depth == 0 && (self.peek_word("RETURN") || self.peek_word("LANGUAGE") || self.peek_word("COMMENT")) {
                break;
            }
            self.at += 1;
        }
        if start == self.at {
            return self.error();
        }
        let mut text = String::new();
        for token in &self.tokens[start..self.at] {
            match token {
                Token::Word(w) => {
                    if text.ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
                        text.push(' ');
                    }
                    text.push_str(&w.to_ascii_uppercase());
                }
                Token::Symbol(c) => text.push(*c),
                _ => {}
            }
        }
        Ok(text)
    }

    /// `(key [=] 'value', …)`: keys identifiers or string literals, values
    /// string literals or bare words (`true`, numbers).
    fn options(&mut self) -> Result<std::collections::BTreeMap<String, String>, SyntaxError> {
        if !self.eat_symbol('(') {
            return self.error();
        }
        let mut options = std::collections::BTreeMap::new();
        loop {
            let key = match self.tokens.get(self.at).cloned() {
                Some(Token::Text(t)) | Some(Token::Word(t)) | Some(Token::Quoted(t)) => t,
                _ => return self.error(),
            };
            self.at += 1;
            self.eat_symbol('=');
            let value = match self.tokens.get(self.at).cloned() {
                Some(Token::Text(t)) | Some(Token::Word(t)) => t,
                _ => return self.error(),
            };
            self.at += 1;
            options.insert(key.to_ascii_lowercase(), value);
            if self.eat_symbol(')') {
                return Ok(options);
            }
            if !self.eat_symbol(',') {
                return self.error();
            }
        }
    }

    /// `(p type, …)` of a function, possibly empty.
    fn parameters(&mut self) -> Result<Vec<(String, String)>, SyntaxError> {
        if !self.eat_symbol('(') {
            return self.error();
        }
        let mut parameters = Vec::new();
        if self.eat_symbol(')') {
            return Ok(parameters);
        }
        loop {
            let name = self.identifier()?;
            parameters.push((name, self.type_text()?));
            if self.eat_symbol(')') {
                return Ok(parameters);
            }
            if !self.eat_symbol(',') {
                return self.error();
            }
        }
    }

    /// `SELECT, MODIFY` or `ALL PRIVILEGES` or `USE CATALOG`.
    fn privileges(&mut self) -> Result<Vec<String>, SyntaxError> {
        let mut privileges = Vec::new();
        loop {
            let mut words = vec![self.identifier()?.to_ascii_uppercase()];
            while !self.peek_word("ON") && !matches!(self.tokens.get(self.at), Some(Token::Symbol(',')) | None) {
                words.push(self.identifier()?.to_ascii_uppercase());
            }
            privileges.push(words.join("_"));
            if !self.eat_symbol(',') {
                return Ok(privileges);
            }
        }
    }
}

/// Parses one statement.
pub fn parse(sql: &str) -> Result<Statement, SyntaxError> {
    let mut p = Parser { tokens: tokenize(sql)?, at: 0 };
    if p.eat("SELECT") {
        if p.eat("current_metastore") {
            if !(p.eat_symbol('(') && p.eat_symbol(')')) {
                return p.error();
            }
            return p.done(Statement::CurrentMetastore);
        }
        if p.peek_word("COUNT") {
            return count_rows(p);
        }
        if selects_from(&p, &["system", "replication", "states"]) {
            return replication_states(p);
        }
        return information_schema(p);
    }
    if p.eat("LIST") {
        let url = p.text()?;
        let limit = if p.eat("LIMIT") { Some(p.count()?) } else { None };
        return p.done(Statement::List { url, limit });
    }
    if p.eat("DESCRIBE") {
        if p.eat("DETAIL") {
            let name = p.name()?;
            return p.done(Statement::DescribeDetail { name });
        }
        if p.eat("TABLE") || p.peek_word("EXTENDED") {
            p.expect("EXTENDED")?;
            let name = p.name()?;
            p.expect("AS")?;
            p.expect("JSON")?;
            return p.done(Statement::DescribeTableJson { name });
        }
        p.expect("HISTORY")?;
        let name = p.name()?;
        let limit = if p.eat("LIMIT") { Some(p.count()?) } else { None };
        return p.done(Statement::DescribeHistory { name, limit });
    }
    if p.eat("GRANT") || p.eat("REVOKE") {
        let grant = matches!(&p.tokens[0], Token::Word(w) if w.eq_ignore_ascii_case("GRANT"));
        let privileges = p.privileges()?;
        p.expect("ON")?;
        let securable = p.securable()?;
        let name = p.name()?;
        p.expect(if grant { "TO" } else { "FROM" })?;
        let principal = p.identifier()?;
        let statement = if grant {
            Statement::Grant { privileges, securable, name, principal }
        } else {
            Statement::Revoke { privileges, securable, name, principal }
        };
        return p.done(statement);
    }
    if p.eat("ALTER") {
        if p.eat("VIEW") {
            let name = p.name()?;
            if p.eat("AS") {
                let (query, dependencies, functions) = p.view_query()?;
                return Ok(Statement::AlterViewAs { name, query, dependencies, functions });
            }
            if let Some(statement) = p.tags(Securable::Table, &name, None)? {
                return p.done(statement);
            }
            if p.eat("ALTER") {
                // The COLUMN keyword is required here (ALTER VIEW … COLUMN clause).
                p.expect("COLUMN")?;
                let column = p.identifier()?;
                match p.tags(Securable::Table, &name, Some(&column))? {
                    Some(statement) => return p.done(statement),
                    None => return p.error(),
                }
            }
            p.expect("OWNER")?;
            p.expect("TO")?;
            let owner = p.identifier()?;
            return p.done(Statement::AlterOwner { securable: Securable::Table, name, owner });
        }
        if p.peek_word("TABLE") {
            let table_at = p.at;
            p.at += 1;
            let name = p.name()?;
            if let Some(statement) = p.row_filter_or_mask(&name)? {
                return p.done(statement);
            }
            p.at = table_at;
        }
        let securable = p.securable()?;
        let name = p.name()?;
        if matches!(securable, Securable::Catalog | Securable::Schema | Securable::Volume) {
            if let Some(statement) = p.tags(securable, &name, None)? {
                return p.done(statement);
            }
        }
        p.expect("OWNER")?;
        p.expect("TO")?;
        let owner = p.identifier()?;
        return p.done(Statement::AlterOwner { securable, name, owner });
    }
    if p.eat("COMMENT") {
        return comment(p);
    }
    p.expect("CREATE")?;
    let (or_replace, or_refresh) = if p.eat("OR") {
        if p.eat("REFRESH") {
            (false, true)
        } else {
            p.expect("REPLACE")?;
            (true, false)
        }
    } else {
        (false, false)
    };
    let dataset = if p.eat("MATERIALIZED") {
        p.expect("VIEW")?;
        Some("MATERIALIZED_VIEW")
    } else if p.eat("STREAMING") {
        p.expect("TABLE")?;
        // "{ CREATE OR REFRESH STREAMING TABLE | CREATE STREAMING TABLE [ IF NOT EXISTS ] }"
        if or_replace {
            return p.error();
        }
        Some("STREAMING_TABLE")
    } else {
        None
    };
    if let Some(table_type) = dataset {
        let if_not_exists = p.if_not_exists()?;
        if if_not_exists && (or_replace || or_refresh) {
            return p.error();
        }
        let name = p.name()?;
        p.expect("AS")?;
        let (query, dependencies, functions) = p.view_query()?;
        return Ok(Statement::CreateDataset {
            table_type: table_type.into(),
            name,
            or_replace: or_replace || or_refresh,
            if_not_exists,
            query,
            dependencies,
            functions,
        });
    }
    if or_refresh {
        // OR REFRESH belongs to materialized views and streaming tables only.
        return p.error();
    }
    if p.eat("SCHEMA") || p.eat("DATABASE") {
        let if_not_exists = p.if_not_exists()?;
        let name = p.name()?;
        return p.done(Statement::CreateSchema { name, if_not_exists });
    }
    if p.eat("EXTERNAL") {
        p.expect("VOLUME")?;
        let if_not_exists = p.if_not_exists()?;
        let name = p.name()?;
        p.expect("LOCATION")?;
        let location = p.text()?;
        return p.done(Statement::CreateExternalVolume { name, if_not_exists, location });
    }
    if p.eat("VIEW") {
        let if_not_exists = p.if_not_exists()?;
        if if_not_exists && or_replace {
            // "You may specify at most one of IF NOT EXISTS or OR REPLACE."
            return p.error();
        }
        let name = p.name()?;
        p.expect("AS")?;
        let (query, dependencies, functions) = p.view_query()?;
        return Ok(Statement::CreateView { name, or_replace, if_not_exists, query, dependencies, functions });
    }
    if p.eat("FUNCTION") {
        let if_not_exists = p.if_not_exists()?;
        if if_not_exists && or_replace {
            return p.error();
        }
        let name = p.name()?;
        let parameters = p.parameters()?;
        p.expect("RETURNS")?;
        let returns = p.type_text()?;
        // Characteristics, in any order: `LANGUAGE SQL`, `COMMENT '…'`.
        let mut comment = None;
        loop {
            if p.eat("LANGUAGE") {
                if !p.eat("SQL") {
                    // A Python (or other) body is not SQL: the sandbox does not model it.
                    return Err(SyntaxError(
                        "[PARSE_SYNTAX_ERROR] The sandbox models SQL functions only (LANGUAGE SQL).".into(),
                    ));
                }
            } else if comment.is_none() && p.eat("COMMENT") {
                comment = Some(p.text()?);
            } else {
                break;
            }
        }
        p.expect("RETURN")?;
        let (body, tables, functions) = p.expression()?;
        return Ok(Statement::CreateFunction {
            name,
            or_replace,
            if_not_exists,
            parameters,
            returns,
            body,
            tables,
            functions,
            comment,
        });
    }
    p.expect("TABLE")?;
    let if_not_exists = p.if_not_exists()?;
    let name = p.name()?;
    let columns = if p.tokens.get(p.at) == Some(&Token::Symbol('(')) { p.parameters()? } else { Vec::new() };
    if p.eat("USING") {
        let format = p.identifier()?.to_ascii_uppercase();
        let (mut options, mut partitioned_by, mut location) = (std::collections::BTreeMap::new(), Vec::new(), None);
        while p.at < p.tokens.len() {
            if p.eat("OPTIONS") {
                options = p.options()?;
            } else if p.eat("PARTITIONED") {
                p.expect("BY")?;
                partitioned_by = p.column_list()?;
            } else if p.eat("LOCATION") {
                location = Some(p.text()?);
            } else {
                return p.error();
            }
        }
        let Some(location) = location else { return p.error() };
        return p.done(Statement::CreateTableUsing {
            name,
            if_not_exists,
            format,
            location,
            columns,
            options,
            partitioned_by,
        });
    }
    if !columns.is_empty() {
        return p.error();
    }
    let deep = if p.eat("DEEP") {
        true
    } else if p.eat("SHALLOW") {
        false
    } else {
        return p.error();
    };
    p.expect("CLONE")?;
    let source = if p.peek_word("delta")
        && p.tokens.get(p.at + 1) == Some(&Token::Symbol('.'))
        && matches!(p.tokens.get(p.at + 2), Some(Token::Quoted(path)) if path.contains("://"))
    {
        p.at += 2;
        CloneSource::Path(p.identifier()?)
    } else {
        CloneSource::Table(p.name()?)
    };
    let location = if p.eat("LOCATION") { Some(p.text()?) } else { None };
    p.done(Statement::CloneTable { name, or_replace, if_not_exists, deep, source, location })
}

/// The rest of `COMMENT ON … IS {'text' | NULL}`.
fn comment(mut p: Parser) -> Result<Statement, SyntaxError> {
    p.expect("ON")?;
    let (securable, name, column) = if p.eat("COLUMN") {
        // `relation.column`: up to four parts, the last one the column.
        let mut parts = vec![p.identifier()?];
        while p.eat_symbol('.') {
            parts.push(p.identifier()?);
        }
        if !(2..=4).contains(&parts.len()) {
            return p.error();
        }
        let column = parts.pop();
        (Securable::Table, parts, column)
    } else {
        let securable = match () {
            _ if p.eat("CATALOG") => Securable::Catalog,
            _ if p.eat("SCHEMA") || p.eat("DATABASE") => Securable::Schema,
            _ if p.eat("TABLE") => Securable::Table,
            _ if p.eat("VOLUME") => Securable::Volume,
            // CONNECTION, PROVIDER, RECIPIENT and SHARE are documented too,
            // but drbot comments none of them: not modelled.
            _ => return p.error(),
        };
        (securable, p.name()?, None)
    };
    p.expect("IS")?;
    let comment = if p.eat("NULL") { None } else { Some(p.text()?) };
    p.done(Statement::Comment { securable, name, column, comment })
}

/// The rest of `SELECT COUNT(*) AS row_count [, bit_xor(xxhash64(*)) AS
/// row_hash] FROM t`: exactly that shape, aliases included.
fn count_rows(mut p: Parser) -> Result<Statement, SyntaxError> {
    p.expect("COUNT")?;
    if !(p.eat_symbol('(') && p.eat_symbol('*') && p.eat_symbol(')')) {
        return p.error();
    }
    p.expect("AS")?;
    p.expect("row_count")?;
    let hash = p.eat_symbol(',');
    if hash {
        p.expect("bit_xor")?;
        if !p.eat_symbol('(') {
            return p.error();
        }
        p.expect("xxhash64")?;
        if !(p.eat_symbol('(') && p.eat_symbol('*') && p.eat_symbol(')') && p.eat_symbol(')')) {
            return p.error();
        }
        p.expect("AS")?;
        p.expect("row_hash")?;
    }
    p.expect("FROM")?;
    let name = p.name()?;
    p.done(Statement::CountRows { name, hash })
}

/// The rest of `SELECT col, … FROM c.information_schema.v [WHERE inherited_from IS NULL]`.
fn information_schema(mut p: Parser) -> Result<Statement, SyntaxError> {
    let mut columns = vec![p.identifier()?.to_ascii_lowercase()];
    while p.eat_symbol(',') {
        columns.push(p.identifier()?.to_ascii_lowercase());
    }
    p.expect("FROM")?;
    let name = p.name()?;
    let [catalog, schema, view] = <[String; 3]>::try_from(name).map_err(|_| {
        SyntaxError("[PARSE_SYNTAX_ERROR] The sandbox answers only catalog.information_schema.view.".into())
    })?;
    if !schema.eq_ignore_ascii_case("information_schema") {
        return Err(SyntaxError("[PARSE_SYNTAX_ERROR] The sandbox answers only information_schema queries.".into()));
    }
    let direct_only = if p.eat("WHERE") {
        p.expect("inherited_from")?;
        p.expect("IS")?;
        p.expect("NULL")?;
        true
    } else {
        false
    };
    p.done(Statement::InformationSchema {
        catalog: catalog.to_ascii_lowercase(),
        view: view.to_ascii_lowercase(),
        columns,
        direct_only,
    })
}

/// Whether the statement's first `FROM` names `table` (case aside).
fn selects_from(p: &Parser, table: &[&str]) -> bool {
    let Some(from) = p.tokens.iter().position(|t| matches!(t, Token::Word(w) if w.eq_ignore_ascii_case("FROM"))) else {
        return false;
    };
    let mut rest = Parser { tokens: p.tokens[from + 1..].to_vec(), at: 0 };
    rest.name()
        .is_ok_and(|name| name.len() == table.len() && name.iter().zip(table).all(|(a, b)| a.eq_ignore_ascii_case(b)))
}

/// The rest of `SELECT … FROM system.replication.states WHERE
/// failover_group_name = '…' ORDER BY event_time DESC [LIMIT n]`.
fn replication_states(mut p: Parser) -> Result<Statement, SyntaxError> {
    let mut columns = Vec::new();
    loop {
        if p.eat("to_json") {
            if !p.eat_symbol('(') {
                return p.error();
            }
            let column = p.identifier()?;
            if !p.eat_symbol(')') {
                return p.error();
            }
            p.expect("AS")?;
            if !p.identifier()?.eq_ignore_ascii_case(&column) {
                return Err(SyntaxError("[PARSE_SYNTAX_ERROR] The sandbox names to_json(c) AS c only.".into()));
            }
            columns.push((column.to_ascii_lowercase(), true));
        } else {
            columns.push((p.identifier()?.to_ascii_lowercase(), false));
        }
        if !p.eat_symbol(',') {
            break;
        }
    }
    p.expect("FROM")?;
    p.name()?;
    p.expect("WHERE")?;
    p.expect("failover_group_name")?;
    if !p.eat_symbol('=') {
        return p.error();
    }
    let group_name = p.text()?;
    p.expect("ORDER")?;
    p.expect("BY")?;
    p.expect("event_time")?;
    p.expect("DESC")?;
    let limit = if p.eat("LIMIT") { Some(p.count()?) } else { None };
    p.done(Statement::ReplicationStates(super::super::replication_states::Query { columns, group_name, limit }))
}

/// The tokens back as SQL text (identifiers re-quoted), for a view's definition.
fn render(tokens: &[Token]) -> String {
    let mut out = String::new();
    for token in tokens {
        let piece = match token {
            Token::Word(w) => w.clone(),
            Token::Quoted(q) => format!("`{}`", q.replace('`', "``")),
            Token::Text(t) => format!("'{}'", t.replace('\'', "''")),
            Token::Symbol(c) => c.to_string(),
        };
        let glue = matches!(token, Token::Symbol('.' | ')' | ',')) || out.ends_with(['.', '(']);
        if !out.is_empty() && !glue {
            out.push(' ');
        }
        out.push_str(&piece);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(parts: &[&str]) -> Vec<String> {
        parts.iter().map(|p| p.to_string()).collect()
    }

    #[test]
    fn the_statements_drbot_issues() {
        assert_eq!(
            parse("CREATE SCHEMA IF NOT EXISTS `main`.`raw`").unwrap(),
            Statement::CreateSchema { name: name(&["main", "raw"]), if_not_exists: true }
        );
        assert_eq!(
            parse("CREATE OR REPLACE TABLE `main`.`s`.`t` DEEP CLONE `shared_main`.`s`.`t`").unwrap(),
            Statement::CloneTable {
                name: name(&["main", "s", "t"]),
                or_replace: true,
                if_not_exists: false,
                deep: true,
                source: CloneSource::Table(name(&["shared_main", "s", "t"])),
                location: None
            }
        );
        assert_eq!(
            parse("create or replace table `c`.`s`.`t` deep clone delta.`abfss://x@y.dfs.core.windows.net/p` LOCATION 'abfss://x@z/p';").unwrap(),
            Statement::CloneTable { name: name(&["c", "s", "t"]), or_replace: true, if_not_exists: false, deep: true, source: CloneSource::Path("abfss://x@y.dfs.core.windows.net/p".into()), location: Some("abfss://x@z/p".into()) }
        );
        assert_eq!(
            parse("CREATE TABLE IF NOT EXISTS `c`.`s`.`t` USING parquet LOCATION 'abfss://geo@a/b'").unwrap(),
            Statement::CreateTableUsing {
                name: name(&["c", "s", "t"]),
                if_not_exists: true,
                format: "PARQUET".into(),
                location: "abfss://geo@a/b".into(),
                columns: Vec::new(),
                options: Default::default(),
                partitioned_by: Vec::new(),
            }
        );
        let Statement::CreateView { dependencies, .. } =
            parse("CREATE OR REPLACE VIEW `c`.`s`.`v` AS SELECT * FROM `c`.`s`.`a` JOIN `c`.`s`.`b` USING (id)")
                .unwrap()
        else {
            panic!()
        };
        assert_eq!(dependencies, vec![name(&["c", "s", "a"]), name(&["c", "s", "b"])]);
        assert_eq!(
            parse("GRANT SELECT, MODIFY ON TABLE `c`.`s`.`t` TO `alice@contoso.example`").unwrap(),
            Statement::Grant {
                privileges: vec!["SELECT".into(), "MODIFY".into()],
                securable: Securable::Table,
                name: name(&["c", "s", "t"]),
                principal: "alice@contoso.example".into()
            }
        );
        assert_eq!(
            parse("REVOKE USE CATALOG ON CATALOG `c` FROM `dr-readers`").unwrap(),
            Statement::Revoke {
                privileges: vec!["USE_CATALOG".into()],
                securable: Securable::Catalog,
                name: name(&["c"]),
                principal: "dr-readers".into()
            }
        );
        assert_eq!(
            parse("ALTER VIEW `c`.`s`.`v` OWNER TO `dr-operators`").unwrap(),
            Statement::AlterOwner {
                securable: Securable::Table,
                name: name(&["c", "s", "v"]),
                owner: "dr-operators".into()
            }
        );
        assert_eq!(parse("SELECT current_metastore()").unwrap(), Statement::CurrentMetastore);
        assert_eq!(
            parse("DESCRIBE HISTORY `c`.`s`.`t`").unwrap(),
            Statement::DescribeHistory { name: name(&["c", "s", "t"]), limit: None }
        );
        assert_eq!(
            parse("DESCRIBE HISTORY `c`.`s`.`t` LIMIT 1").unwrap(),
            Statement::DescribeHistory { name: name(&["c", "s", "t"]), limit: Some(1) }
        );
        assert_eq!(
            parse("SELECT grantee, table_catalog FROM `system`.`information_schema`.`table_privileges` WHERE inherited_from IS NULL").unwrap(),
            Statement::InformationSchema {
                catalog: "system".into(),
                view: "table_privileges".into(),
                columns: vec!["grantee".into(), "table_catalog".into()],
                direct_only: true,
            }
        );
        assert!(parse("SELECT * FROM system.information_schema.tables").is_err(), "columns are named");
        assert!(parse("SELECT a FROM system.other.tables").is_err());
        assert!(
            parse("SELECT a FROM system.information_schema.tables WHERE table_name = 'x'").is_err(),
            "no other filter"
        );
        assert_eq!(
            parse("CREATE EXTERNAL VOLUME IF NOT EXISTS `c`.`s`.`v` LOCATION 'abfss://geo@a/v'").unwrap(),
            Statement::CreateExternalVolume {
                name: name(&["c", "s", "v"]),
                if_not_exists: true,
                location: "abfss://geo@a/v".into()
            }
        );
    }

    #[test]
    fn backticks_escape_by_doubling() {
        assert_eq!(
            parse("CREATE SCHEMA `we``ird`.`x y`").unwrap(),
            Statement::CreateSchema { name: name(&["we`ird", "x y"]), if_not_exists: false }
        );
    }

    #[test]
    fn anything_else_is_a_syntax_error() {
        for bad in [
            "DROP TABLE x",
            "SELECT 1",
            "CREATE TABLE t",
            "GRANT SELECT ON TABLE t",
            "CREATE SCHEMA `unclosed",
            "CREATE SCHEMA a.b.c.d",
            "",
            "CREATE VIEW v AS SELECT 1",
        ] {
            let error = parse(bad).unwrap_err();
            assert!(error.0.contains("PARSE_SYNTAX_ERROR"), "{bad}: {error:?}");
        }
    }
}

//! The bayes entry's configuration, parsed by hand: plugins stay small without a JSON library.

pub struct Config {
    pub min_spam: i64,
    pub min_ham: i64,
}

impl Default for Config {
    fn default() -> Self {
        Self { min_spam: 200, min_ham: 200 }
    }
}

impl Config {
    pub fn parse(json: &str) -> Result<Self, String> {
        let json = json.trim();
        if !(json.starts_with('{') && json.ends_with('}')) {
            return Err(format!("expected a JSON object, got {json}"));
        }
        let mut config = Self::default();
        for (key, value) in fields(&json[1..json.len() - 1]) {
            match key.as_str() {
                "min_spam" | "min_ham" => {
                    let n: i64 = value.parse().map_err(|_| format!("{key} must be a whole number, got {value}"))?;
                    if n < 1 {
                        return Err(format!("{key} must be at least 1"));
                    }
                    if key == "min_spam" {
                        config.min_spam = n;
                    } else {
                        config.min_ham = n;
                    }
                }
                other => return Err(format!("unknown key {other:?} (min_spam, min_ham)")),
            }
        }
        Ok(config)
    }
}

/// `"key": value` pairs of a flat object with scalar values.
fn fields(body: &str) -> Vec<(String, String)> {
    body.split(',')
        .filter_map(|pair| pair.split_once(':'))
        .map(|(k, v)| (k.trim().trim_matches('"').to_owned(), v.trim().trim_matches('"').to_owned()))
        .filter(|(k, _)| !k.is_empty())
        .collect()
}

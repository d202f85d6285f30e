//! Paging of the console's lists.

/// Rows per page in every list.
pub const PAGE_SIZE: i64 = 25;

/// `?page=N` (from 1).
#[derive(serde::Deserialize, Default)]
pub struct PageQuery {
    /// 1-based page number.
    pub page: Option<i64>,
    /// A `notice` key after a redirect.
    pub done: Option<String>,
}

/// Paging links for a list fetched with one extra row.
pub struct Pager {
    /// 1-based.
    pub page: i64,
    /// A next page exists.
    pub has_next: bool,
    /// The query without `page`, ready to append `page=`.
    pub base: String,
}

impl Pager {
    /// The offset and limit (one more than a page, to see if another follows).
    pub fn window(page: Option<i64>) -> (i64, i64, i64) {
        let page = page.unwrap_or(1).clamp(1, 1_000_000);
        (page, (page - 1) * PAGE_SIZE, PAGE_SIZE + 1)
    }

    /// Trims the extra row off `rows` and builds the links; `params` are the
    /// list's filters, kept on every link.
    pub fn paginate<R>(page: i64, rows: &mut Vec<R>, params: &[(&str, &str)]) -> Pager {
        let has_next = rows.len() as i64 > PAGE_SIZE;
        rows.truncate(PAGE_SIZE as usize);
        let mut ser = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in params.iter().filter(|(_, v)| !v.is_empty()) {
            ser.append_pair(k, v);
        }
        let q = ser.finish();
        Pager { page, has_next, base: if q.is_empty() { "?".into() } else { format!("?{q}&") } }
    }

    /// The previous page's link.
    pub fn prev(&self) -> String {
        format!("{}page={}", self.base, self.page - 1)
    }

    /// The next page's link.
    pub fn next(&self) -> String {
        format!("{}page={}", self.base, self.page + 1)
    }
}

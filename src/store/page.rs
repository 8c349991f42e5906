//! Lists paginated in SQL: a page number and size in, one page and the total out.
use sea_orm::DbErr;
use serde::Serialize;

/// A page of a list, paginated in SQL.
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub page: u64,
    pub per_page: u64,
    pub total: u64,
}

impl<T> Page<T> {
    pub fn pages(&self) -> u64 {
        self.total.div_ceil(self.per_page).max(1)
    }
    pub fn has_next(&self) -> bool {
        self.page < self.pages()
    }
}

/// Page numbers start at 1; `per_page` is kept within 1..=200.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    pub page: u64,
    pub per_page: u64,
}

impl PageRequest {
    /// Pages beyond a billion are clamped, so that no offset overflows.
    pub fn new(page: Option<u64>, per_page: Option<u64>) -> Self {
        Self { page: page.unwrap_or(1).clamp(1, 1_000_000_000), per_page: per_page.unwrap_or(50).clamp(1, 200) }
    }

    /// One page of an ordered query (a filtered table: no grouping, no joins), with the total
    /// count: both in SQL.
    pub async fn fetch<E>(self, db: &impl sea_orm::ConnectionTrait, query: sea_orm::Select<E>) -> Result<(Vec<E::Model>, u64), DbErr>
    where
        E: sea_orm::EntityTrait,
        E::Model: Sync,
    {
        use sea_orm::QuerySelect;
        let total = count(db, &query).await?;
        let rows = query.offset((self.page - 1).saturating_mul(self.per_page)).limit(self.per_page).all(db).await?;
        Ok((rows, total))
    }

    /// As `fetch`, reading only the columns of `M` (a list that shows a few columns of wide
    /// rows need not read and decode the others).
    pub async fn fetch_as<E, M>(self, db: &impl sea_orm::ConnectionTrait, query: sea_orm::Select<E>) -> Result<(Vec<M>, u64), DbErr>
    where
        E: sea_orm::EntityTrait,
        M: sea_orm::PartialModelTrait + Send + Sync,
    {
        use sea_orm::QuerySelect;
        let total = count(db, &query).await?;
        let rows =
            query.offset((self.page - 1).saturating_mul(self.per_page)).limit(self.per_page).into_partial_model::<M>().all(db).await?;
        Ok((rows, total))
    }

    pub fn page_of<T>(self, items: Vec<T>, total: u64) -> Page<T> {
        Page { items, page: self.page, per_page: self.per_page, total }
    }
}

/// `SELECT COUNT(*) FROM t WHERE …` rather than a count of a subquery that selects every
/// column: the database counts from an index without reading the rows.
async fn count<E: sea_orm::EntityTrait>(db: &impl sea_orm::ConnectionTrait, query: &sea_orm::Select<E>) -> Result<u64, DbErr> {
    use sea_orm::QueryTrait;
    let mut counting = query.clone();
    QueryTrait::query(&mut counting).clear_order_by().clear_selects().expr_as(sea_orm::sea_query::Expr::cust("COUNT(*)"), "n");
    let total: i64 = counting.into_tuple::<i64>().one(db).await?.unwrap_or(0);
    Ok(u64::try_from(total).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::PageRequest;

    #[test]
    fn pages_are_clamped() {
        let p = PageRequest::new(Some(u64::MAX), Some(0));
        assert_eq!((p.page, p.per_page), (1_000_000_000, 1));
        assert_eq!(PageRequest::new(Some(0), Some(9999)).per_page, 200);
    }
}

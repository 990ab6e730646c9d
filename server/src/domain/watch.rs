//! Mentions: `@handle` in an internal comment names a user of the tenant.
//!
//! A handle is a user's sign-in email (`@ada@example.com`) or its local part
//! (`@ada`) when exactly one user of the tenant has it; display names are
//! not handles (they hold spaces and repeat). Matching ignores case. An `@`
//! counts only at the start of the text or after a character that cannot be
//! part of a handle, so `ops@example.com` in prose mentions nobody.

use uuid::Uuid;

use super::people::User;

fn handle_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+')
}

/// The handles mentioned in `body`, lowercased, each once, in order.
pub fn mentioned_handles(body: &str) -> Vec<String> {
    let chars: Vec<char> = body.chars().collect();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let starts =
            chars[i] == '@' && (i == 0 || !(handle_char(chars[i - 1]) || chars[i - 1] == '@'));
        if !starts {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < chars.len() && handle_char(chars[j]) {
            j += 1;
        }
        // An email: local part, `@`, domain.
        if j < chars.len() && chars[j] == '@' && j + 1 < chars.len() && handle_char(chars[j + 1]) {
            j += 1;
            while j < chars.len() && handle_char(chars[j]) {
                j += 1;
            }
        }
        let handle: String = chars[i + 1..j].iter().collect();
        // A sentence's full stop or a dash after the name is not part of it.
        let handle = handle.trim_end_matches(['.', '-', '_']).to_lowercase();
        if !handle.is_empty() && !out.contains(&handle) {
            out.push(handle);
        }
        i = j.max(i + 1);
    }
    out
}

/// The users `handles` name among `users`: an exact email, or a local part
/// that exactly one of them has. Each user once, in `users` order.
pub fn resolve_mentions(handles: &[String], users: &[User]) -> Vec<Uuid> {
    let local = |u: &User| u.email.split('@').next().unwrap_or_default().to_lowercase();
    users
        .iter()
        .filter(|user| {
            handles.iter().any(|h| {
                if h.contains('@') {
                    user.email.eq_ignore_ascii_case(h)
                } else {
                    local(user) == *h && users.iter().filter(|u| local(u) == *h).count() == 1
                }
            })
        })
        .map(|u| u.id)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::people::Role;

    fn user(email: &str) -> User {
        User {
            id: Uuid::now_v7(),
            tenant_id: Uuid::nil(),
            email: email.into(),
            name: "Someone".into(),
            role: Role::Dispatcher,
            active: true,
            created_at: chrono::Utc::now(),
        }
    }

    #[test]
    fn handles_are_found_where_they_stand_alone() {
        assert_eq!(
            mentioned_handles(
                "@Ada can you check? cc @bo.li, and @ada again. Mail ops@example.com"
            ),
            ["ada", "bo.li"]
        );
        assert_eq!(
            mentioned_handles("ping @ada@example.com."),
            ["ada@example.com"]
        );
        assert_eq!(mentioned_handles("@ @@ x@y"), Vec::<String>::new());
        assert_eq!(mentioned_handles("（@李）@chen-"), ["chen"]);
    }

    #[test]
    fn a_local_part_two_users_share_names_neither() {
        let (a, b, c) = (
            user("ada@one.example"),
            user("ada@two.example"),
            user("Bo@one.example"),
        );
        let users = vec![a.clone(), b.clone(), c.clone()];
        assert_eq!(
            resolve_mentions(&["ada".into()], &users),
            Vec::<Uuid>::new()
        );
        assert_eq!(
            resolve_mentions(&["ada@two.example".into(), "bo".into()], &users),
            [b.id, c.id]
        );
    }
}

//! The wording of messages: embedded defaults in English and Simplified
//! Chinese, which a tenant may override per event, language and channel.
//! Templates are minijinja; plain text, no HTML escaping.

use serde::Serialize;

use crate::store::notify::{Locale, NoticeChannel, NoticeEvent, NoticeTemplate};

/// What templates can use.
#[derive(Debug, Clone, Serialize)]
pub struct TemplateVars {
    pub ticket_number: String,
    pub ticket_title: String,
    pub customer_name: String,
    pub technician_first_name: Option<String>,
    /// The appointment window in the tenant's time, in the messages about it.
    pub appointment_window: Option<String>,
    pub comment: Option<String>,
    /// The progress page for this ticket.
    pub progress_url: String,
    /// Where the service report is read (the progress page until reports exist).
    pub report_url: String,
    /// The satisfaction survey.
    pub survey_url: String,
    /// The progress page's one-time code (`access_code` messages).
    pub access_code: Option<String>,
    /// The ticket this one was merged into (`ticket_merged` messages).
    pub merged_into: Option<String>,
    /// That ticket's progress page (`ticket_merged` messages).
    pub merged_into_url: Option<String>,
    /// A rule's notification to staff (`staff_alert` messages).
    pub staff_title: Option<String>,
    pub staff_body: Option<String>,
    /// The ticket's page in the console (for staff).
    pub console_url: String,
}

#[derive(Debug, thiserror::Error)]
#[error("template: {0}")]
pub struct TemplateError(String);

/// Renders `source` with `vars`.
pub fn render(source: &str, vars: &TemplateVars) -> Result<String, TemplateError> {
    let env = minijinja::Environment::new();
    env.render_str(source, vars)
        .map_err(|e| TemplateError(e.to_string()))
}

/// Parses `source` and renders it with sample values, so a tenant's
/// override is refused at the API instead of failing at send time.
pub fn check(source: &str) -> Result<(), TemplateError> {
    let sample = TemplateVars {
        ticket_number: "T-1".into(),
        ticket_title: "Boiler".into(),
        customer_name: "Customer".into(),
        technician_first_name: Some("Ana".into()),
        appointment_window: Some("09:00–11:00".into()),
        comment: Some("On our way".into()),
        progress_url: "http://localhost/track?ticket=T-1".into(),
        report_url: "http://localhost/track?ticket=T-1".into(),
        survey_url: "http://localhost/track?ticket=T-1#survey".into(),
        access_code: Some("123456".into()),
        merged_into: Some("T-2".into()),
        merged_into_url: Some("http://localhost/track?ticket=T-2".into()),
        staff_title: Some("T-1 needs a hand".into()),
        staff_body: Some("P1 from a gold customer".into()),
        console_url: "http://localhost/ticket?id=1".into(),
    };
    render(source, &sample).map(drop)
}

/// The embedded wording of one event in one language and channel.
pub fn default_template(
    event: NoticeEvent,
    locale: Locale,
    channel: NoticeChannel,
) -> NoticeTemplate {
    let (subject, email, sms) = wording(event, locale);
    NoticeTemplate {
        event,
        locale,
        channel,
        subject: subject.to_owned(),
        body: match channel {
            NoticeChannel::Email => email,
            NoticeChannel::Sms => sms,
        }
        .to_owned(),
    }
}

/// (subject, email body, SMS text)
fn wording(event: NoticeEvent, locale: Locale) -> (&'static str, &'static str, &'static str) {
    use NoticeEvent::*;
    match (locale, event) {
        (Locale::En, TicketReceived) => (
            "We received your request {{ ticket_number }}",
            "Hello {{ customer_name }},\n\nwe have received your request \"{{ ticket_title }}\" as ticket {{ ticket_number }}.\nFollow its progress: {{ progress_url }}\n",
            "Request {{ ticket_number }} received. Follow it: {{ progress_url }}",
        ),
        (Locale::En, TechnicianAssigned) => (
            "A technician is assigned to {{ ticket_number }}",
            "Hello {{ customer_name }},\n\n{{ technician_first_name or \"A technician\" }} will take care of ticket {{ ticket_number }}.{% if appointment_window %}\nAppointment: {{ appointment_window }}{% endif %}\nProgress: {{ progress_url }}\n",
            "{{ technician_first_name or \"A technician\" }} is assigned to {{ ticket_number }}.{% if appointment_window %} Appointment: {{ appointment_window }}.{% endif %} {{ progress_url }}",
        ),
        (Locale::En, TechnicianEnRoute) => (
            "Your technician is on the way ({{ ticket_number }})",
            "Hello {{ customer_name }},\n\n{{ technician_first_name or \"Your technician\" }} is on the way for ticket {{ ticket_number }}.\nFollow the arrival live: {{ progress_url }}\n",
            "{{ technician_first_name or \"Your technician\" }} is on the way ({{ ticket_number }}). Live: {{ progress_url }}",
        ),
        (Locale::En, WorkDone) => (
            "Work done on {{ ticket_number }}",
            "Hello {{ customer_name }},\n\nthe work on ticket {{ ticket_number }} (\"{{ ticket_title }}\") is done.\nService report and details: {{ report_url }}\n",
            "Work on {{ ticket_number }} is done. Details: {{ report_url }}",
        ),
        (Locale::En, StaffReply) => (
            "New reply on {{ ticket_number }}",
            "Hello {{ customer_name }},\n\n{{ comment }}\n\nAnswer or follow ticket {{ ticket_number }}: {{ progress_url }}\n",
            "{{ ticket_number }}: {{ comment }} {{ progress_url }}",
        ),
        (Locale::En, Survey) => (
            "How did we do? ({{ ticket_number }})",
            "Hello {{ customer_name }},\n\nticket {{ ticket_number }} is closed. One question, 1 to 5, takes ten seconds: {{ survey_url }}\n",
            "{{ ticket_number }} is closed. How did we do? {{ survey_url }}",
        ),
        (Locale::En, AccessCode) => (
            "Your code for {{ ticket_number }}: {{ access_code }}",
            "Hello {{ customer_name }},\n\nyour code to follow ticket {{ ticket_number }} is {{ access_code }}. It works once, for 10 minutes.\nIf you did not ask for it, ignore this message.\n",
            "Code for {{ ticket_number }}: {{ access_code }} (10 minutes)",
        ),
        (Locale::En, AppointmentBooked) => (
            "Your appointment for {{ ticket_number }}",
            "Hello {{ customer_name }},\n\nyour appointment for ticket {{ ticket_number }} (\"{{ ticket_title }}\") is booked: {{ appointment_window }}.\nProgress: {{ progress_url }}\n",
            "Appointment for {{ ticket_number }}: {{ appointment_window }}. {{ progress_url }}",
        ),
        (Locale::En, AppointmentCancelled) => (
            "Appointment cancelled ({{ ticket_number }})",
            "Hello {{ customer_name }},\n\nthe appointment {{ appointment_window }} for ticket {{ ticket_number }} is cancelled. We will contact you for a new one.\nProgress: {{ progress_url }}\n",
            "Appointment {{ appointment_window }} for {{ ticket_number }} is cancelled. {{ progress_url }}",
        ),
        (Locale::En, TicketMerged) => (
            "{{ ticket_number }} continues as {{ merged_into }}",
            "Hello {{ customer_name }},\n\nyour request {{ ticket_number }} (\"{{ ticket_title }}\") reports the same problem as ticket {{ merged_into }}, so we have merged them: we continue the work under {{ merged_into }} and closed {{ ticket_number }} as its duplicate. Nothing is lost; your messages are with {{ merged_into }}.\nProgress: {{ merged_into_url or progress_url }}\n",
            "{{ ticket_number }} is merged into {{ merged_into }}; we continue there. {{ merged_into_url or progress_url }}",
        ),
        (Locale::En, StaffAlert) => (
            "[{{ ticket_number }}] {{ staff_title }}",
            "{{ staff_title }}\n{% if staff_body %}\n{{ staff_body }}\n{% endif %}\nTicket {{ ticket_number }} \"{{ ticket_title }}\" ({{ customer_name }}): {{ console_url }}\n",
            "[{{ ticket_number }}] {{ staff_title }} {{ console_url }}",
        ),
        (Locale::ZhCn, TicketReceived) => (
            "已收到您的报修 {{ ticket_number }}",
            "{{ customer_name }}，您好：\n\n我们已收到您的报修“{{ ticket_title }}”，工单号 {{ ticket_number }}。\n查看进度：{{ progress_url }}\n",
            "已收到报修 {{ ticket_number }}，查看进度：{{ progress_url }}",
        ),
        (Locale::ZhCn, TechnicianAssigned) => (
            "工单 {{ ticket_number }} 已指派技术员",
            "{{ customer_name }}，您好：\n\n技术员{{ technician_first_name or \"\" }}将为您处理工单 {{ ticket_number }}。{% if appointment_window %}\n预约时间：{{ appointment_window }}{% endif %}\n查看进度：{{ progress_url }}\n",
            "技术员{{ technician_first_name or \"\" }}已接手工单 {{ ticket_number }}。{% if appointment_window %}预约时间：{{ appointment_window }}。{% endif %}{{ progress_url }}",
        ),
        (Locale::ZhCn, TechnicianEnRoute) => (
            "技术员正在赶来（{{ ticket_number }}）",
            "{{ customer_name }}，您好：\n\n技术员{{ technician_first_name or \"\" }}正在前往处理工单 {{ ticket_number }}。\n实时查看到达情况：{{ progress_url }}\n",
            "技术员{{ technician_first_name or \"\" }}正在赶来（{{ ticket_number }}），实时查看：{{ progress_url }}",
        ),
        (Locale::ZhCn, WorkDone) => (
            "工单 {{ ticket_number }} 已完工",
            "{{ customer_name }}，您好：\n\n工单 {{ ticket_number }}（“{{ ticket_title }}”）已完工。\n服务报告及详情：{{ report_url }}\n",
            "工单 {{ ticket_number }} 已完工，详情：{{ report_url }}",
        ),
        (Locale::ZhCn, StaffReply) => (
            "工单 {{ ticket_number }} 有新回复",
            "{{ customer_name }}，您好：\n\n{{ comment }}\n\n回复或查看工单 {{ ticket_number }}：{{ progress_url }}\n",
            "{{ ticket_number }}：{{ comment }} {{ progress_url }}",
        ),
        (Locale::ZhCn, Survey) => (
            "请评价本次服务（{{ ticket_number }}）",
            "{{ customer_name }}，您好：\n\n工单 {{ ticket_number }} 已关闭。请用 1 到 5 分为本次服务打分，只需十秒：{{ survey_url }}\n",
            "工单 {{ ticket_number }} 已关闭，请为服务打分：{{ survey_url }}",
        ),
        (Locale::ZhCn, AccessCode) => (
            "工单 {{ ticket_number }} 的验证码：{{ access_code }}",
            "{{ customer_name }}，您好：\n\n查看工单 {{ ticket_number }} 进度的验证码是 {{ access_code }}，10 分钟内有效，只能使用一次。\n如非本人操作，请忽略此邮件。\n",
            "工单 {{ ticket_number }} 验证码：{{ access_code }}（10 分钟内有效）",
        ),
        (Locale::ZhCn, AppointmentBooked) => (
            "工单 {{ ticket_number }} 的预约时间",
            "{{ customer_name }}，您好：\n\n工单 {{ ticket_number }}（“{{ ticket_title }}”）已预约：{{ appointment_window }}。\n查看进度：{{ progress_url }}\n",
            "工单 {{ ticket_number }} 已预约：{{ appointment_window }}。{{ progress_url }}",
        ),
        (Locale::ZhCn, AppointmentCancelled) => (
            "工单 {{ ticket_number }} 的预约已取消",
            "{{ customer_name }}，您好：\n\n工单 {{ ticket_number }} 原定 {{ appointment_window }} 的预约已取消，我们会再与您约定时间。\n查看进度：{{ progress_url }}\n",
            "工单 {{ ticket_number }} 原定 {{ appointment_window }} 的预约已取消。{{ progress_url }}",
        ),
        (Locale::ZhCn, TicketMerged) => (
            "工单 {{ ticket_number }} 已并入 {{ merged_into }}",
            "{{ customer_name }}，您好：\n\n您的报修 {{ ticket_number }}（“{{ ticket_title }}”）与工单 {{ merged_into }} 反映的是同一问题，我们已将两者合并：后续处理在 {{ merged_into }} 中进行，{{ ticket_number }} 作为重复工单关闭。信息不会丢失，您的留言已转入 {{ merged_into }}。\n查看进度：{{ merged_into_url or progress_url }}\n",
            "工单 {{ ticket_number }} 已并入 {{ merged_into }}，后续在该工单处理。{{ merged_into_url or progress_url }}",
        ),
        (Locale::ZhCn, StaffAlert) => (
            "[{{ ticket_number }}] {{ staff_title }}",
            "{{ staff_title }}\n{% if staff_body %}\n{{ staff_body }}\n{% endif %}\n工单 {{ ticket_number }}“{{ ticket_title }}”（{{ customer_name }}）：{{ console_url }}\n",
            "[{{ ticket_number }}] {{ staff_title }} {{ console_url }}",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_renders_in_both_languages() {
        for event in NoticeEvent::ALL {
            for locale in Locale::ALL {
                for channel in NoticeChannel::ALL {
                    let template = default_template(event, locale, channel);
                    check(&template.subject).expect("subject renders");
                    check(&template.body).expect("body renders");
                }
            }
        }
    }

    #[test]
    fn a_broken_override_is_refused() {
        assert!(check("{{ ticket_number").is_err());
        assert!(check("{% if %}").is_err());
    }
}

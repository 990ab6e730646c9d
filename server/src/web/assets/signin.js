"use strict";
const params = new URLSearchParams(location.search);
for (const field of ["tenant", "email"]) {
  if (params.get(field)) document.getElementById(field).value = params.get(field);
}
document.getElementById("signin").addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.getElementById("error");
  error.textContent = "";
  const form = event.target;
  try {
    await TruckrollSession.signIn(form.tenant.value.trim(), form.email.value.trim(), form.password.value);
    // A technician's tool is the phone: they land on their own jobs, never
    // on the office pages (whose streams refuse them).
    const me = await TruckrollSession.api("/v1/me");
    const next = params.get("next");
    if (me.role === "technician") location.assign("/technician");
    else location.assign(next && next.startsWith("/") && !next.startsWith("//") ? next : "/tickets");
  } catch (e) {
    error.textContent = `Sign-in failed: ${e.message}`;
  }
});

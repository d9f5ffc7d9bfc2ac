// The training generator's words (make_triage.mjs composes them with the
// problems of triage-train-problems.mjs into tickets): the fillers, other
// languages, tones, context sentences. Written apart from the eval
// generator: none of its products, carriers, tools or names appear here.

/** Fillers: one value of each is drawn per ticket. */
export const V = {
  product: ["the mobile app", "the iOS app", "the Android app", "the web dashboard", "the desktop app", "the browser extension", "the Mac app", "the Windows app"],
  first: ["anna", "ben", "carla", "dev", "emma", "farid", "grace", "hiro", "ines", "jonas", "kate", "liam", "maya", "noah", "olga", "priya", "raj", "sara", "tom", "yuki"],
  last: ["smith", "ng", "kowalski", "garcia", "okafor", "berg", "tanaka", "rossi", "patel", "dubois"],
  domain: ["gmail.com", "outlook.com", "yahoo.com", "proton.me", "acme.io", "northwind.com", "fastmail.com", "example.org"],
  plan: ["Pro", "Team", "Business", "Starter", "Premium"],
  weekday: ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "the weekend"],
  carrier: ["UPS", "DHL", "FedEx", "USPS", "the courier", "DPD", "Australia Post"],
  action: ["opening a project", "uploading a photo", "exporting a report", "switching accounts", "opening settings", "attaching a file", "saving a draft", "starting a sync", "printing", "sharing a folder"],
  item: ["headphones", "a phone case", "the charger", "a blue hoodie", "the starter kit", "a keyboard", "running shoes", "a desk lamp", "a water bottle", "the travel mug"],
  wrong: ["a red one", "the wrong size", "a completely different product", "someone else's order", "an older model"],
  integration: ["Slack", "Google Calendar", "Zapier", "Notion", "Salesforce", "Jira", "Outlook", "HubSpot", "GitHub", "Xero"],
  feature: ["a dark mode", "export to CSV", "keyboard shortcuts", "bulk editing", "recurring tasks", "offline mode", "custom fields", "a public API", "a Gantt view", "emoji reactions", "tags on files", "an undo button"],
  code: ["E1042", "ERR_UNKNOWN", "E-500", "0x80070005", "ERR_SAVE_FAILED", "E2201", "ERR_NULL_REF", "E_PARSE_77"],
  authcode: ["AUTH_401", "SSO_403", "ERR_SAML_RESPONSE", "E-AUTH-12", "invalid_grant", "ERR_TOKEN_EXPIRED"],
  http: ["502 Bad Gateway", "503 Service Unavailable", "504 Gateway Timeout", "500 Internal Server Error"],
  region: ["the EU", "the US", "Asia", "the UK", "Australia", "Brazil", "India"],
  page: ["the project board", "the file browser", "the comments panel", "the profile page", "the timeline view", "the inbox", "the map view"],
  device: ["my iPhone", "my Pixel", "my Galaxy phone", "my iPad", "my work laptop", "my MacBook"],
  browser: ["Firefox", "Safari", "Edge", "Brave", "Opera"],
  // Word choices that vary the generic problems below.
  signin: ["log in", "sign in", "get into my account", "access my account", "log on"],
  symptom: ["shows a blank screen", "gets stuck loading", "throws an error", "shows the wrong numbers", "ignores my changes", "goes back to the home screen"],
  service: ["the website", "the API", "the sync service", "checkout", "the dashboard", "push notifications", "file storage", "the mobile app", "video calls", "the reports page"],
  endverb: ["cancel", "end", "terminate", "stop", "discontinue"],
  parcel: ["order", "package", "parcel", "delivery", "shipment"],
  late: ["still hasn't arrived", "is over a week late", "is stuck in transit", "never showed up"],
  erase: ["delete", "erase", "remove", "wipe"],
  credential: ["password", "email and password", "Google account", "Apple ID", "company SSO account", "work email", "username"],
  loginerr: ["session expired", "account not found", "too many requests", "unable to verify your identity", "user is disabled", "authentication failed"],
  billthing: ["latest invoice", "monthly bill", "receipt", "last payment", "credit note", "renewal notice"],
  billerr: ["the amount is higher than my plan", "it lists a plan I don't have", "it shows the wrong billing period", "the seat count is off", "it's in someone else's name"],
  paymethod: ["PayPal", "my Visa card", "Apple Pay", "Google Pay", "my debit card", "SEPA direct debit"],
  refundwhy: ["a month I didn't use", "a plan I downgraded from", "an order I returned", "a service that was down all week"],
  damage: ["arrived scratched", "came in the wrong colour", "arrived soaking wet", "came in a torn bag", "arrived dented"],
  uielem: ["share button", "date picker", "dropdown menu", "progress bar", "undo button", "print preview", "sidebar", "zoom control", "settings toggle", "comment box"],
  glitch: ["does nothing", "shows an error", "looks garbled", "disappears", "is greyed out", "flickers"],
  wish: ["pin important projects", "change the font size", "set a default view", "add notes to invoices", "rename the statuses", "duplicate a whole board", "mute a single thread", "merge two accounts", "pick our own colours", "sign in with a fingerprint on the website", "choose a delivery day", "hide my email address from other members", "archive old projects", "set reminders on tasks", "lock a document", "reorder the menu", "see who is logged in right now", "pay with PayPal", "download all our invoices at once", "use our own domain for the sign-in page", "split a payment across two cards", "track my order on a map"],
  pdata: ["phone number", "home address", "date of birth", "old profile photos", "location history", "contact list"],
  cthing: ["membership", "subscription", "plan", "monthly plan", "yearly plan", "team account"],
  nomoney: ["I don't want to pay for it any more", "so I'm not charged again", "before the next bill", "and stop taking payments", "so no new invoice comes"],
  leavereason: ["we moved to another tool", "it's too expensive for us", "we don't use it enough", "our company was bought", "I'm retiring", "the features we need are missing"],
};

/** Tickets in other languages: [category, priority, summary (English), tickets]. */
export const FOREIGN = [
  ["login", "medium", "Cannot log in", ["No puedo iniciar sesión en mi cuenta.", "Je n'arrive pas à me connecter à mon compte.", "Ich kann mich nicht in mein Konto einloggen.", "Não consigo entrar na minha conta."]],
  ["login", "medium", "Password reset email not arriving", ["No me llega el correo para restablecer la contraseña.", "Je ne reçois pas l'e-mail de réinitialisation du mot de passe.", "Die E-Mail zum Zurücksetzen des Passworts kommt nicht an.", "O e-mail para redefinir a senha não chega."]],
  ["login", "high", "Locked out after losing 2FA device", ["Perdí mi teléfono y ya no recibo los códigos de doble factor.", "J'ai perdu mon téléphone avec l'application d'authentification, je suis bloqué.", "Ich habe mein Handy mit der Authenticator-App verloren und komme nicht mehr rein."]],
  ["login", "medium", "Keeps getting logged out", ["La aplicación me cierra la sesión cada pocos minutos.", "L'application me déconnecte toutes les cinq minutes.", "Die App meldet mich ständig ab.", "O aplicativo fica me desconectando o tempo todo."]],
  ["billing", "high", "Charged twice for one order", ["Me cobraron dos veces el mismo pedido {order}.", "Tengo un cargo duplicado del pedido {order} en mi tarjeta.", "J'ai été débité deux fois pour la commande {order}.", "Mir wurde die Bestellung {order} doppelt berechnet.", "Fui cobrado duas vezes pelo pedido {order}."]],
  ["billing", "medium", "Refund not received", ["Todavía no he recibido mi reembolso de {amount}.", "Je n'ai toujours pas reçu mon remboursement.", "Meine Rückerstattung ist noch nicht angekommen.", "Ainda não recebi meu reembolso."]],
  ["billing", "low", "Requests an invoice copy", ["¿Me pueden enviar la factura del mes pasado?", "Pouvez-vous m'envoyer la facture de mon abonnement ?", "Könnten Sie mir bitte die Rechnung schicken?", "Podem me mandar a fatura do último pagamento?"]],
  ["billing", "high", "Charged after cancelling subscription", ["Cancelé la suscripción pero me siguen cobrando.", "J'ai résilié mais vous m'avez encore prélevé {amount}.", "Ich habe gekündigt und trotzdem wurden {amount} abgebucht."]],
  ["shipping", "medium", "Order is late", ["Mi pedido {order} todavía no ha llegado.", "Ma commande {order} n'est toujours pas arrivée.", "Meine Bestellung {order} ist immer noch nicht da.", "Meu pedido {order} ainda não chegou."]],
  ["shipping", "medium", "Order arrived damaged", ["El paquete llegó roto.", "Le colis est arrivé abîmé.", "Das Paket kam beschädigt an.", "A encomenda chegou danificada."]],
  ["shipping", "medium", "Received the wrong item", ["Me enviaron un producto equivocado.", "J'ai reçu le mauvais article.", "Ich habe den falschen Artikel bekommen.", "Recebi o produto errado."]],
  ["shipping", "high", "Parcel marked delivered but not received", ["Dice entregado pero no recibí nada.", "Le suivi indique livré mais je n'ai rien reçu.", "Laut Sendungsverfolgung zugestellt, aber hier ist nichts angekommen."]],
  ["bug", "high", "App crashes", ["La aplicación se cierra cada vez que la abro.", "L'application plante à chaque ouverture.", "Die App stürzt jedes Mal ab, wenn ich sie öffne.", "O aplicativo fecha sozinho toda vez que eu abro."]],
  ["bug", "medium", "Save button does nothing", ["El botón de guardar no hace nada.", "Le bouton enregistrer ne fonctionne pas.", "Der Speichern-Knopf macht nichts.", "O botão de salvar não faz nada."]],
  ["bug", "medium", "Export produces an empty file", ["Al exportar, el archivo sale vacío.", "L'export me donne un fichier vide.", "Der Export erzeugt eine leere Datei."]],
  ["bug", "medium", "Images don't load", ["Las imágenes no cargan en la aplicación.", "Les images ne s'affichent plus.", "Die Bilder werden nicht geladen.", "As imagens não carregam."]],
  ["feature", "low", "Feature request: dark mode", ["¿Podrían añadir un modo oscuro?", "Ce serait bien d'avoir un mode sombre.", "Bitte fügt einen Dunkelmodus hinzu.", "Vocês poderiam adicionar um modo escuro?"]],
  ["feature", "low", "Feature request: calendar integration", ["Me gustaría una integración con Google Calendar.", "Une intégration avec Google Calendar serait utile.", "Eine Integration mit Google Calendar wäre toll.", "Seria ótimo integrar com o Google Calendar."]],
  ["feature", "low", "Feature request: templates", ["Sería genial poder guardar plantillas de proyectos.", "J'aimerais pouvoir créer des modèles de projet.", "Vorlagen für Projekte wären super."]],
  ["privacy", "medium", "Requests deletion of personal data", ["Quiero que borren todos mis datos personales.", "Je veux que vous supprimiez toutes mes données personnelles.", "Bitte löschen Sie alle meine persönlichen Daten.", "Quero que apaguem todos os meus dados pessoais."]],
  ["privacy", "urgent", "Unauthorized login to account", ["Alguien entró en mi cuenta y no fui yo.", "Quelqu'un s'est connecté à mon compte, ce n'était pas moi.", "Jemand hat sich in mein Konto eingeloggt, das war nicht ich.", "Alguém entrou na minha conta e não fui eu."]],
  ["privacy", "medium", "Unsubscribe request ignored", ["Pedí no recibir publicidad y me siguen llegando correos.", "Je me suis désabonné mais je reçois toujours vos publicités.", "Ich habe mich abgemeldet und bekomme trotzdem Werbung."]],
  ["outage", "urgent", "Service is down", ["El servicio está caído, no carga nada.", "Le service est en panne, rien ne charge.", "Der Dienst ist komplett ausgefallen.", "O serviço está fora do ar, nada carrega."]],
  ["outage", "urgent", "API requests failing for all users", ["La API falla para todas las peticiones.", "L'API ne répond plus pour aucune requête.", "Die API antwortet auf keine Anfrage mehr.", "A API não responde para ninguém."]],
  ["outage", "urgent", "Emails not being sent to anyone", ["No se está enviando ningún correo desde la plataforma.", "Aucun e-mail ne part de la plateforme depuis ce matin.", "Seit heute früh werden keine E-Mails mehr verschickt."]],
  ["cancellation", "medium", "Wants to cancel subscription", ["Quiero cancelar mi suscripción.", "Je souhaite résilier mon abonnement.", "Ich möchte mein Abo kündigen.", "Quero cancelar minha assinatura."]],
  ["cancellation", "medium", "Wants to close account", ["Por favor, cierren mi cuenta.", "Merci de fermer mon compte.", "Bitte schließen Sie mein Konto.", "Por favor, encerrem minha conta."]],
  ["cancellation", "medium", "Wants to stop auto-renewal", ["No quiero que la suscripción se renueve automáticamente.", "Je ne veux pas que mon abonnement se renouvelle.", "Bitte die automatische Verlängerung ausschalten."]],
];

/** Openings and sign-offs by tone (tone never changes the labels). */
export const OPEN = {
  neutral: ["", "", "", "Hi,", "Hello,", "Hey,", "Hi team,", "Hello support,", "Hi folks,"],
  polite: ["Good morning,", "Dear support team,", "Hello, I hope you are well.", "Hi there, sorry to bother you.", "Hello and thanks for your time.", "Good evening,"],
  angry: ["Seriously?!", "This is unacceptable.", "I'm so done with this.", "WHAT IS GOING ON?", "Third time writing about this.", "Unbelievable."],
};
export const CLOSE = {
  neutral: ["", "", "", "Thanks.", "Can someone look into this?", "Cheers.", "Any update?", "Thx, {first}"],
  polite: ["Thank you very much for your help.", "Thanks in advance, have a nice day.", "I really appreciate it.", "Kind regards, {first}", "Many thanks!", "Warm wishes, {first}"],
  angry: ["Fix it NOW.", "Worst service ever.", "I want an answer today!!", "This is ridiculous.", "Sort it out or I'm leaving.", "Still waiting."],
};

/** Sentences around the problem in long tickets; several name other categories' words on purpose. */
export const BACKSTORY = [
  "I've been a customer for {n} years and never had problems before.",
  "I run a small bakery and we use this every day.",
  "I already talked to someone on chat but they couldn't help.",
  "I'm writing from my phone because my laptop is at the office.",
  "My colleague had the same thing last month and it went away on its own, but not this time.",
  "I tried on {product} and on the website.",
  "I restarted everything twice.",
  "We moved offices last week, not sure if that matters.",
  "Sorry for the long message, I just want to explain everything.",
  "I checked your status page and it says everything is fine.",
  "I pay for the {plan} plan out of my own pocket.",
  "My account is {email} in case you need it.",
  "I mostly use {product} on {device}.",
  "We were planning to upgrade to {plan} next quarter.",
  "Last year you sorted out a billing question for me very quickly.",
  "I'm not asking for a refund, I just want it to work.",
  "I logged in on {device} to write this.",
  "Our office manager normally handles orders, but she is off this week.",
  "The new design looks great, by the way.",
  "I've read the FAQ twice.",
  "I'm on {browser} on a fairly new computer.",
  "This started on {weekday}.",
  "Maybe it's because I switched to {device} recently.",
  "It might be related to the update you pushed on {weekday}.",
  "I renamed my workspace yesterday, in case that is relevant.",
  "My previous ticket about this got closed without an answer.",
  "I'm the only admin on our account.",
  "We are a team of {n} people in {region}.",
];

/** A business-impact sentence: raises a login, bug or shipping ticket's priority one level. */
export const IMPACT = ["Our whole team is blocked.", "This is costing us sales.", "We have a client demo tomorrow.", "About 50 users are affected.", "I need this fixed today for a deadline.", "Our shop can't fulfil orders because of this.", "Half the office can't do their job.", "We're losing money every hour this goes on.", "I can't do my job until this is fixed."];

/** How a lesser second issue is added to a ticket. */
export const ALSO = ["Also, {x}", "One more thing: {x}", "And btw {x}", "Unrelated, but {x}", "P.S. {x}"];

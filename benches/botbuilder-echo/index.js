// The reference bot of drbot's webhook benchmark: Microsoft's botbuilder
// (CloudAdapter + ConfigurationBotFrameworkAuthentication), configured only
// through the standard settings, echoing every message through the connector.
//
// Inbound tokens are validated against ToBotFromChannelOpenIdMetadataUrl
// (the sandbox's channel metadata). The bot's own token comes from the
// sandbox's Entra ID through a user-assigned managed identity
// (IDENTITY_ENDPOINT / IDENTITY_HEADER, App Service style): botbuilder's
// client-secret path goes through MSAL, which refuses a non-https authority.
const express = require('express');
const { CloudAdapter, ConfigurationBotFrameworkAuthentication, ActivityTypes } = require('botbuilder');

const settings = {
  MicrosoftAppId: process.env.MicrosoftAppId,
  MicrosoftAppType: process.env.MicrosoftAppType || 'UserAssignedMSI',
  MicrosoftAppTenantId: process.env.MicrosoftAppTenantId,
  ToBotFromChannelOpenIdMetadataUrl: process.env.ToBotFromChannelOpenIdMetadataUrl,
  ToBotFromChannelTokenIssuer: 'https://api.botframework.com',
};
const auth = new ConfigurationBotFrameworkAuthentication(settings);
const adapter = new CloudAdapter(auth);
adapter.onTurnError = async (context, error) => {
  console.error('turn error', error.message);
};

async function echo(context) {
  if (context.activity.type === ActivityTypes.Message) {
    await context.sendActivity(`echo: ${context.activity.text}`);
  }
}

const app = express();
app.use(express.json({ limit: '256kb' }));
app.get('/healthz', (req, res) => res.send('ok'));
app.post('/api/messages', (req, res) => adapter.process(req, res, echo));
const port = Number(process.env.PORT || 3979);
app.listen(port, '127.0.0.1', () => console.log(`botbuilder echo bot listening on ${port}`));
